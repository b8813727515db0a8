"""TC_J_03 — Clock-aligned meter values in TransactionEvent Ended (J01, AlignedDataTxEnded).

The Ended event carries the clock-aligned readings taken during the transaction (several
meterValue entries, context Sample.Clock) and the Transaction.End reading. Answered; stored:
each reading with its own timestamp, all tied to the transaction, the energy from the last.
"""

from __future__ import annotations

from charging_support import session_started, stored
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_j_03_clock_aligned_values_in_the_ended_event(csms):
    charging = await session_started(csms, "TC-J-03")
    aligned = []
    for _ in range(3):
        charging.tick(900)
        charging.charge(1_000)
        aligned.append(charging.meter_value("Sample.Clock"))
    charging.tick(30)

    assert await charging.stop("EVCommunicationLost", "EVDisconnected",
                               meter=[*aligned, charging.meter_value("Transaction.End")]) == {}

    row, _, values = await stored(csms, "TC-J-03", charging.transaction_id)
    ended = [(v.context, v.value) for v in values if v.context in ("Sample.Clock", "Transaction.End")]
    assert ended == [("Sample.Clock", 1_000), ("Sample.Clock", 2_000), ("Sample.Clock", 3_000),
                     ("Transaction.End", 3_000)]
    assert len({v.sampled_at for v in values if v.context == "Sample.Clock"}) == 3
    assert row.energy_wh == 3_000 and row.ended_at is not None
