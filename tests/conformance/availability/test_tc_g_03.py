"""TC_G_03_CSMS — Change availability of an EVSE to Inoperative (G03): the request names
evse.id and no connectorId; the station answers Accepted and reports its connector Unavailable."""

from __future__ import annotations

from core_support import availability_case
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_g_03(csms):
    request = await availability_case(csms, "TC-G-03", "Inoperative", {"id": 1},
                                      after="Unavailable")
    assert request == {"operationalStatus": "Inoperative", "evse": {"id": 1}}
