"""TC_B_44_CSMS — SetNetworkProfile answered Failed (B09.FR.03): the CSMS reads the answer and
keeps it as the outcome of the request."""

from __future__ import annotations

from ocpp_support import csms  # noqa: F401 - fixture
from test_tc_b_42 import network_profile_case


async def test_tc_b_44(csms):
    row = await network_profile_case(csms, "TC-B-44", "Failed")
    assert row["status"] == "Failed" and row["answered_at"] is not None
