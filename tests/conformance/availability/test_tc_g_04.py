"""TC_G_04_CSMS — Change availability of an inoperative EVSE back to Operative (G03): the
station answers Accepted and its connector is Available again, as the CSMS keeps it."""

from __future__ import annotations

from core_support import availability_case
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_g_04(csms):
    request = await availability_case(csms, "TC-G-04", "Operative", {"id": 1},
                                      before="Unavailable", after="Available")
    assert request == {"operationalStatus": "Operative", "evse": {"id": 1}}
