"""TC_B_20_CSMS — Reset OnIdle of an idle station (B11): Accepted, the station reboots;
the kept Reset is closed by its BootNotification (rebooted, reason RemoteReset)."""

from __future__ import annotations

from ocpp_support import csms  # noqa: F401 - fixture
from provisioning_support import reset_case


async def test_tc_b_20(csms):
    row = await reset_case(csms, "TC-B-20", "OnIdle", None, transaction=False, answer_status="Accepted", boot_reason="RemoteReset")
    assert row["type"] == "OnIdle" and row["evse_id"] is None and row["answer"] == "Accepted"
