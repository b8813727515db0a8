"""TC_G_08_CSMS — Change availability of an inoperative connector back to Operative: evse.id and
evse.connectorId; the answer and the new status are kept."""

from __future__ import annotations

from core_support import availability_case
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_g_08(csms):
    request = await availability_case(csms, "TC-G-08", "Operative", {"id": 1, "connector_id": 1},
                                      before="Unavailable", after="Available")
    assert request == {"operationalStatus": "Operative", "evse": {"id": 1, "connectorId": 1}}
