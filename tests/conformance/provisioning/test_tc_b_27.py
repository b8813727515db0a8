"""TC_B_27_CSMS — Reset Immediate of one EVSE with a transaction (B12.FR.04): Accepted,
the transaction Ended (ImmediateReset)."""

from __future__ import annotations

from ocpp_support import csms  # noqa: F401 - fixture
from provisioning_support import reset_case


async def test_tc_b_27(csms):
    row = await reset_case(csms, "TC-B-27", "Immediate", 1, transaction=True, answer_status="Accepted", boot_reason=None)
    assert row["type"] == "Immediate" and row["evse_id"] == 1 and row["answer"] == "Accepted"
