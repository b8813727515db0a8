"""TC_B_26_CSMS — Reset OnIdle of one EVSE with a transaction (B12.FR.06): Scheduled,
kept as such (the station does not reboot for an EVSE)."""

from __future__ import annotations

from ocpp_support import csms  # noqa: F401 - fixture
from provisioning_support import reset_case


async def test_tc_b_26(csms):
    row = await reset_case(csms, "TC-B-26", "OnIdle", 1, transaction=True, answer_status="Scheduled", boot_reason=None)
    assert row["type"] == "OnIdle" and row["evse_id"] == 1 and row["answer"] == "Scheduled"
