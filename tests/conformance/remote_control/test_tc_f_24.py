"""TC_F_24_CSMS — TriggerMessage StatusNotification of a specific EVSE, Occupied (F06, C-29.5,
F06.FR.13): evse.id and evse.connectorId; the Occupied report that follows is answered and kept."""

from __future__ import annotations

from core_support import status_trigger_case
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_f_24_trigger_status_notification_occupied(csms):
    requests = await status_trigger_case(csms, "TC-F-24", "Occupied")
    assert requests == [{"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}}]
