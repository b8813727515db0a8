"""TC_B_22_CSMS — Reset Immediate while a transaction runs (B11.FR.05): TransactionEvent
Ended with stoppedReason ImmediateReset, then BootNotification RemoteReset."""

from __future__ import annotations

from ocpp_support import csms  # noqa: F401 - fixture
from provisioning_support import reset_case


async def test_tc_b_22(csms):
    row = await reset_case(csms, "TC-B-22", "Immediate", None, transaction=True, answer_status="Accepted", boot_reason="RemoteReset")
    assert row["type"] == "Immediate" and row["evse_id"] is None and row["answer"] == "Accepted"
