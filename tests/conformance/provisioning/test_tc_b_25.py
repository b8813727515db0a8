"""TC_B_25_CSMS — Reset of one idle EVSE (B12): Accepted; no reboot of the station."""

from __future__ import annotations

from ocpp_support import csms  # noqa: F401 - fixture
from provisioning_support import reset_case


async def test_tc_b_25(csms):
    row = await reset_case(csms, "TC-B-25", "OnIdle", 1, transaction=False, answer_status="Accepted", boot_reason=None)
    assert row["type"] == "OnIdle" and row["evse_id"] == 1 and row["answer"] == "Accepted"
