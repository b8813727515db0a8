"""TC_G_17_CSMS — Change availability of a connector while a transaction runs: evse.id and
evse.connectorId; the station answers Scheduled and the CSMS keeps it."""

from __future__ import annotations

from core_support import availability_case
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_g_17(csms):
    request = await availability_case(csms, "TC-G-17", "Inoperative", {"id": 1, "connector_id": 1},
                                      answered="Scheduled", before="Occupied", after="Occupied", transaction=True)
    assert request == {"operationalStatus": "Inoperative", "evse": {"id": 1, "connectorId": 1}}
