"""TC_F_23_CSMS — TriggerMessage StatusNotification of a specific EVSE, Available (F06,
C-29.5): F06.FR.13 asks for `evse`, here with `id` and `connectorId`; the station reports the
connector both ways and the CSMS answers and keeps it. Without the connector the request never
leaves (rule `call.trigger.evse`)."""

from __future__ import annotations

from core_support import booted_station, command, received, status_trigger_case
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_f_23_trigger_status_notification_available(csms):
    requests = await status_trigger_case(csms, "TC-F-23", "Available")
    assert requests == [{"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}}]


async def test_a_status_notification_trigger_without_the_connector_never_leaves(csms):
    station = await booted_station(csms, "TC-F-23-X")
    for evse in (None, {"id": 1}):
        body = {"requested_message": "StatusNotification", **({"evse": evse} if evse else {})}
        refused = await command(csms, "TC-F-23-X", "TriggerMessage", body)
        assert refused.status_code == 422 and refused.json()["rule"] == "call.trigger.evse", refused.text
    assert received(station, "TriggerMessage") == []
