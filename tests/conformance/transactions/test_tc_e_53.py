"""TC_E_53 — A new transaction starting again at seqNo 0 is accepted (E01, seqNo per transaction).

A whole transaction (seqNo 0..n), then a second one on the same EVSE whose Started has seqNo 0
again: answered, stored as a transaction of its own, neither flagged with a gap or a duplicate.
"""

from __future__ import annotations

from charging_support import charging_for, session_started, stored
from ocpp_support import csms  # noqa: F401 - fixture
from sqlmodel import select

from api.core.audit import run_in_session
from storage.transactions import Transaction


async def test_tc_e_53_a_new_transaction_restarts_at_seq_no_zero(csms):
    charging = await session_started(csms, "TC-E-53")
    await charging_for(charging, 10, 1_000)
    await charging.stop("EVCommunicationLost", "EVDisconnected", charging_state="Idle")
    first = charging.transaction_id

    charging.tick(300)
    await charging.connector("Occupied")
    assert await charging.start("CablePluggedIn", charging_state="EVConnected") == {}
    assert charging.sent[-1][0]["seqNo"] == 0 and charging.transaction_id != first
    await charging.update("ChargingStateChanged", charging_state="Charging")

    rows = run_in_session(csms.ctx, lambda s: list(s.exec(select(Transaction).where(
        Transaction.station_id == "TC-E-53").order_by(Transaction.id))))
    assert [r.transaction_id for r in rows] == [first, charging.transaction_id]
    assert [(r.seq_missing, r.seq_duplicates) for r in rows] == [(0, 0), (0, 0)]
    second, events, _ = await stored(csms, "TC-E-53", charging.transaction_id)
    assert [e.seq_no for e in events] == [0, 1] and second.ended_at is None
