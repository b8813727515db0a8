"""TC_G_06_CSMS — Change availability of the whole station back to Operative (G04): no `evse`;
the station answers Accepted and reports its connectors Available."""

from __future__ import annotations

from core_support import availability_case
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_g_06(csms):
    request = await availability_case(csms, "TC-G-06", "Operative", None,
                                      before="Unavailable", after="Available")
    assert request == {"operationalStatus": "Operative"}
