"""TC_E_31 — Check transaction status: ongoing, with messages queued (E14, C-16; E04 offline).

The station lost its connection while charging and queued two events (a meter value and the
stop). Asked GetTransactionStatus with the transactionId, it answers messagesInQueue true (and
ongoing true: it has not delivered the end); then it delivers the queued events, flagged
offline, and the CSMS accepts them late. Stored: the answer, and the transaction ended with the
offline events counted and no gap.
"""

from __future__ import annotations

from charging_support import answers_status, ask_status, session_started, status_answers, stored
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_e_31_status_with_messages_in_queue_then_late_delivery(csms):
    charging = await session_started(csms, "TC-E-31")
    charging.tick(600)
    charging.charge(2_000)
    await charging.update("MeterValuePeriodic", meter=[charging.meter_value("Sample.Periodic")], offline=True)
    charging.tick(60)
    await charging.stop("StopAuthorized", "Local", meter=[charging.meter_value("Transaction.End")], offline=True)
    answers_status(charging, ongoing={charging.transaction_id})

    result = await ask_status(csms, "TC-E-31", charging.transaction_id)
    assert (result["messages_in_queue"], result["ongoing_indicator"]) == (True, True)

    assert await charging.flush() == [{}, {}]
    row, events, _ = await stored(csms, "TC-E-31", charging.transaction_id)
    assert (row.offline_events, row.seq_missing, row.stopped_reason, row.energy_wh) == (2, 0, "Local", 2_000)
    assert [e.offline for e in events][-2:] == [True, True]
    assert status_answers(csms, "TC-E-31") == [(charging.transaction_id, True, True)]
