"""TC_G_11_CSMS — Change availability of an EVSE while a transaction runs: the station answers
Scheduled (the change waits for the transaction's end), which the CSMS keeps; the connector
stays Occupied meanwhile."""

from __future__ import annotations

from core_support import availability_case
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_g_11(csms):
    request = await availability_case(csms, "TC-G-11", "Inoperative", {"id": 1},
                                      answered="Scheduled", before="Occupied", after="Occupied", transaction=True)
    assert request == {"operationalStatus": "Inoperative", "evse": {"id": 1}}
