"""Block E handler called directly (no socket): every TransactionEvent is stored before it is
answered; the transaction row follows its events whatever their order (gaps, duplicates, late
offline events, an Updated for a transaction never started here); the answer carries the token
verdict exactly when the event carries a token, and the cost when a tariff applies."""

from __future__ import annotations

import asyncio
import json

import pytest
from fake_connection import FakeStation, register, rows, sampled, unreachable_database

from api.csms.transactions import service
from api.csms.transactions.handlers import answer_events, read_event, remember, transaction_event
from api.csms.transactions.service import StaleSummary
from api.ocpp.handler import StationCall
from storage.db import DatabaseUnavailable, session_scope
from storage.meter_values import MeterReading
from storage.outbox import OutboundCall
from storage.transactions import Transaction, TransactionEvent
from storage.write_behind import WriteBehind

pytestmark = pytest.mark.fast

STARTED = {"eventType": "Started", "timestamp": "2025-06-01T12:00:00Z", "triggerReason": "Authorized",
           "seqNo": 0, "transactionInfo": {"transactionId": "tx-1"}}


def event(event_type: str, seq_no: int, at: str, trigger: str = "MeterValuePeriodic", tx: str = "tx-1",
          wh: float | None = None, **extra) -> dict:
    payload = {"eventType": event_type, "timestamp": at, "triggerReason": trigger, "seqNo": seq_no,
               "transactionInfo": {"transactionId": tx, **extra.pop("info", {})}, **extra}
    if wh is not None:
        payload["meterValue"] = [{"timestamp": at, "sampledValue": [{"value": wh}]}]
    return payload


def the_transaction(ctx, tx: str = "tx-1") -> Transaction:
    (row,) = rows(ctx, Transaction, Transaction.transaction_id == tx)
    return row


@pytest.mark.parametrize("token, status", [
    ({"idToken": "04A1B2C3", "type": "ISO14443"}, "Unknown"),
    ({"idToken": "", "type": "NoAuthorization"}, "Accepted"),
])
async def test_an_event_with_a_token_gets_its_verdict(ctx, token, status):
    answer = await FakeStation(ctx, "CS-1").send("TransactionEvent", {**STARTED, "idToken": token})
    assert answer == {"idTokenInfo": {"status": status}}


@pytest.mark.parametrize("event_type, trigger", [("Updated", "MeterValuePeriodic"), ("Ended", "EVDeparted")])
async def test_an_event_without_a_token_gets_an_empty_answer(ctx, event_type, trigger):
    payload = {**STARTED, "eventType": event_type, "triggerReason": trigger, "seqNo": 1}
    assert await FakeStation(ctx, "CS-1").send("TransactionEvent", payload) == {}


async def test_a_whole_transaction_is_summarised_on_its_row(ctx):
    station = FakeStation(ctx, "CS-1")
    token = {"idToken": "04A1B2C3", "type": "ISO14443"}
    await station.send("TransactionEvent", event("Started", 0, "2025-06-01T12:00:00Z", "CablePluggedIn", wh=1000,
                                                 evse={"id": 2, "connectorId": 1},
                                                 info={"chargingState": "EVConnected"}))
    await station.send("TransactionEvent", event("Updated", 1, "2025-06-01T12:00:05Z", "Authorized", idToken=token,
                                                 info={"chargingState": "Charging"}))
    await station.send("TransactionEvent", event("Updated", 2, "2025-06-01T12:30:00Z", wh=5500))
    await station.send("TransactionEvent", event("Ended", 3, "2025-06-01T13:00:00Z", "StopAuthorized", wh=8000.0,
                                                 idToken=token, info={"stoppedReason": "Local",
                                                                      "chargingState": "EVConnected"}))
    row = the_transaction(ctx)
    assert (row.evse_id, row.connector_id, row.id_token, row.id_token_type) == (2, 1, "04A1B2C3", "ISO14443")
    assert (row.start_trigger, row.stop_trigger, row.stopped_reason) == ("CablePluggedIn", "StopAuthorized", "Local")
    assert row.started_at.isoformat() == "2025-06-01T12:00:00+00:00"
    assert row.ended_at.isoformat() == "2025-06-01T13:00:00+00:00"
    assert (row.meter_first_wh, row.meter_last_wh, row.energy_wh) == (1000, 8000, 7000)
    assert (row.events, row.seq_missing, row.seq_duplicates, row.unknown_start) == (4, 0, 0, False)
    events = rows(ctx, TransactionEvent)
    assert [e.charging_state for e in events] == ["EVConnected", "Charging", None, "EVConnected"]
    meter = sampled(ctx)
    assert [(m.context, m.value, m.evse_id, m.transaction_pk) for m in meter] == [
        ("Transaction.Begin", 1000, 2, row.id), ("Sample.Periodic", 5500, 2, row.id),
        ("Transaction.End", 8000, 2, row.id)]
    with session_scope(ctx.engine) as session:
        found = service.find(session, "CS-1", "tx-1")
        assert service.find(session, "CS-2", "tx-1") is None
    assert (found.evse_id, found.energy_wh, found.id_token, found.ended_at) == (2, 7000, "04A1B2C3", row.ended_at)


async def test_gaps_and_duplicates_are_counted_never_refused(ctx):
    station = FakeStation(ctx, "CS-1")
    for seq_no in (0, 1, 1, 4, 1):
        kind = "Started" if seq_no == 0 else "Updated"
        assert await station.send("TransactionEvent", event(kind, seq_no, "2025-06-01T12:00:00Z", wh=100)) == {}
    row = the_transaction(ctx)
    assert (row.events, row.seq_missing, row.seq_duplicates) == (5, 2, 2)  # 2 and 3 missing; 1 twice again
    assert [e.duplicate for e in rows(ctx, TransactionEvent)] == [False, False, True, False, True]
    # A retried event's meter values are not stored twice.
    assert len(sampled(ctx)) == 3
    await station.send("TransactionEvent", event("Updated", 2, "2025-06-01T12:00:00Z"))
    assert the_transaction(ctx).seq_missing == 1


async def test_a_seq_no_resent_again_and_again_is_counted_and_kept_a_bounded_number_of_times(ctx, monkeypatch):
    """A station stuck resending one event wrote a row each time, without end."""
    monkeypatch.setattr(service, "DUPLICATES_KEPT", 3)
    station = FakeStation(ctx, "CS-1")
    await station.send("TransactionEvent", event("Started", 0, "2025-06-01T12:00:00Z", wh=100))
    for _ in range(6):
        assert await station.send("TransactionEvent", event("Updated", 1, "2025-06-01T12:01:00Z", wh=200)) == {}
    await station.send("TransactionEvent", event("Updated", 2, "2025-06-01T12:02:00Z", wh=300))
    row = the_transaction(ctx)
    assert (row.events, row.seq_received, row.seq_duplicates, row.energy_wh) == (8, 3, 5, 200)
    assert [(e.seq_no, e.duplicate) for e in rows(ctx, TransactionEvent)] == [
        (0, False), (1, False), (1, True), (1, True), (1, True), (2, False)]


async def test_an_update_of_an_unknown_transaction_is_stored_and_flagged(ctx):
    station = FakeStation(ctx, "CS-1")
    assert await station.send("TransactionEvent", event("Updated", 7, "2025-06-01T12:10:00Z", tx="never")) == {}
    row = the_transaction(ctx, "never")
    assert row.unknown_start and row.started_at.isoformat() == "2025-06-01T12:10:00+00:00"
    assert await station.send("TransactionEvent", event("Ended", 8, "2025-06-01T12:20:00Z", "EVDeparted",
                                                        tx="never")) == {}
    assert the_transaction(ctx, "never").unknown_start and the_transaction(ctx, "never").ended_at is not None


async def test_offline_events_arriving_late_fill_in_without_moving_the_latest_state(ctx):
    station = FakeStation(ctx, "CS-1")
    await station.send("TransactionEvent", event("Updated", 2, "2025-06-01T12:20:00Z", wh=3000,
                                                 info={"chargingState": "SuspendedEV"}))
    await station.send("TransactionEvent", event("Started", 0, "2025-06-01T12:00:00Z", "CablePluggedIn", wh=1000,
                                                 offline=True, info={"chargingState": "Charging"}))
    await station.send("TransactionEvent", event("Updated", 1, "2025-06-01T12:10:00Z", wh=2000, offline=True,
                                                 info={"chargingState": "Charging"}))
    row = the_transaction(ctx)
    assert not row.unknown_start and row.started_at.isoformat() == "2025-06-01T12:00:00+00:00"
    assert row.charging_state == "SuspendedEV"        # the latest by time, not by arrival
    assert (row.energy_wh, row.offline_events, row.seq_missing) == (2000, 2, 0)


async def test_a_new_transaction_may_start_again_at_seq_no_zero(ctx):
    station = FakeStation(ctx, "CS-1")
    for tx in ("tx-1", "tx-2"):
        await station.send("TransactionEvent", event("Started", 0, "2025-06-01T12:00:00Z", tx=tx))
        await station.send("TransactionEvent", event("Ended", 1, "2025-06-01T12:05:00Z", "EVDeparted", tx=tx))
    assert [(r.transaction_id, r.seq_missing, r.seq_duplicates) for r in rows(ctx, Transaction)] == [
        ("tx-1", 0, 0), ("tx-2", 0, 0)]


async def test_the_final_cost_is_in_the_answer_to_ended_only_when_a_tariff_applies(ctx):
    from api.csms.tariff_cost import service as tariff_cost

    register(ctx, "CS-1")
    station = FakeStation(ctx, "CS-1")
    tx = "tx-final-cost"  # the running cost is due once per transaction and process: a name of its own
    assert await station.send("TransactionEvent", event("Ended", 9, "2025-06-01T11:00:00Z", "EVDeparted",
                                                        tx="no-tariff-yet", wh=1000)) == {}
    with session_scope(ctx.engine) as session:
        tariff_cost.put(session, "CS-1", currency_code="EUR", per_kwh="0.50", per_minute="0", flat_fee="0",
                        actor_name="test")
    assert await station.send("TransactionEvent", event("Started", 0, "2025-06-01T12:00:00Z", tx=tx, wh=1000)) == {}
    # totalCost "SHALL only be sent when charging has ended"; the running cost goes by CostUpdated.
    assert await station.send("TransactionEvent", event("Updated", 1, "2025-06-01T12:10:00Z", tx=tx, wh=4000)) == {}
    assert await station.send("TransactionEvent", event("Ended", 2, "2025-06-01T12:20:00Z", "EVDeparted", tx=tx,
                                                        wh=6000)) == {"totalCost": 2.5}  # 5 kWh at 0.50
    (queued,) = rows(ctx, OutboundCall, OutboundCall.action == "CostUpdated")
    assert json.loads(queued.payload) == {"totalCost": 1.5, "transactionId": tx}  # 3 kWh when Updated came


async def test_an_event_the_database_cannot_take_is_not_acknowledged(ctx, tmp_path):
    station = FakeStation(unreachable_database(ctx, tmp_path), "CS-1")
    with pytest.raises(DatabaseUnavailable):
        await station.send("TransactionEvent", STARTED)


async def test_on_either_database_events_and_meter_values_land_where_they_belong(pki):
    # PostgreSQL: the meter values go through the partitioned table, the events through Core inserts.
    station = FakeStation(pki.ctx, "CS-PG")
    await station.send("TransactionEvent", event("Started", 0, "2025-06-01T12:00:00Z", "CablePluggedIn", wh=10,
                                                 evse={"id": 1, "connectorId": 2}))
    await station.send("TransactionEvent", event("Updated", 1, "2025-06-01T12:00:00Z", wh=10))
    await station.send("TransactionEvent", event("Updated", 1, "2025-06-01T12:00:00Z", wh=10))
    await station.send("TransactionEvent", event("Ended", 3, "2025-06-01T12:30:00Z", "EVDeparted", wh=2010))
    row = the_transaction(pki.ctx)
    assert (row.connector_id, row.energy_wh, row.seq_missing, row.seq_duplicates) == (2, 2000, 1, 1)
    assert [m.value for m in sampled(pki.ctx)] == [10, 10, 2010]


async def test_a_group_of_events_recorded_at_once_leaves_what_one_by_one_leaves(ctx):
    """The gateway hands a group of stations' events to record_many together (GroupCommit.each):
    within one group a transaction may start, repeat a seqNo and skip one, across stations."""
    def events(tx: str) -> list[service.Event]:
        script = [("Started", 0, "12:00:00", 1000), ("Updated", 1, "12:00:30", 1200), ("Updated", 1, "12:00:30", 1200),
                  ("Updated", 3, "12:01:30", 1500), ("Ended", 4, "12:02:00", 1600)]
        return [read_event(event(kind, seq_no, f"2025-06-01T{at}Z", tx=tx, wh=wh)) for kind, seq_no, at, wh in script]

    with session_scope(ctx.engine) as session:
        singles = [service.record(session, "CS-1", one) for one in events("one-by-one")]
    with session_scope(ctx.engine) as session:
        together = service.record_many(session, [(station, one) for one in events("together")
                                                 for station in ("CS-1", "CS-2")])
    assert [(r.duplicate, r.seq_missing, r.seconds) for r in together[::2]] == [
        (r.duplicate, r.seq_missing, r.seconds) for r in singles]
    kept = ("events", "seq_received", "seq_duplicates", "seq_missing", "energy_wh", "started_at", "ended_at",
            "stop_trigger", "unknown_start")
    reference = the_transaction(ctx, "one-by-one")
    for station in ("CS-1", "CS-2"):
        (row,) = rows(ctx, Transaction, Transaction.transaction_id == "together", Transaction.station_id == station)
        assert {name: getattr(row, name) for name in kept} == {name: getattr(reference, name) for name in kept}
        assert [e.duplicate for e in rows(ctx, TransactionEvent, TransactionEvent.transaction_pk == row.id)] == [
            False, False, True, False, False]
        assert len(sampled(ctx, MeterReading.transaction_pk == row.id)) == 4  # the repeat's not again


def _reads_of_transactions(ctx) -> list[str]:
    """The reads of summaries by the event path (rows asked for by their (station, transactionId)
    pairs) on ``ctx``'s engine from now on; the running cost's own lookup, once a minute per
    transaction, is not one."""
    from sqlalchemy import event as sa_event

    reads: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        if "FROM charging_transaction" in statement and "charging_transaction.transaction_id) IN" in statement:
            reads.append(statement)

    sa_event.listen(ctx.engine, "before_cursor_execute", seen)
    return reads


async def test_a_connection_keeps_its_open_transactions_summaries_and_reads_none_again(ctx):
    station = FakeStation(ctx, "CS-1")
    reads = _reads_of_transactions(ctx)
    await station.send("TransactionEvent", event("Started", 0, "2025-06-01T12:00:00Z", wh=1000))
    for seq_no in (1, 2, 3):
        await station.send("TransactionEvent", event("Updated", seq_no, f"2025-06-01T12:0{seq_no}:00Z",
                                                     wh=1000 + seq_no))
    assert len(reads) == 1   # the Started's, which found no row
    assert set(station.live.transactions) == {"tx-1"}
    await station.send("TransactionEvent", event("Ended", 4, "2025-06-01T12:05:00Z", wh=1500))
    assert station.live.transactions == {}   # over: nothing kept for it
    row = the_transaction(ctx)
    assert (row.events, row.seq_received, row.meter_last_wh, row.energy_wh) == (5, 5, 1500, 500)
    # A new connection (a reconnect, here or on another worker) starts with nothing kept.
    again = FakeStation(ctx, "CS-1")
    await again.send("TransactionEvent", event("Updated", 5, "2025-06-01T12:06:00Z", tx="tx-2"))
    assert len(reads) == 2


@pytest.fixture
def either_ctx(pki):
    """The context on each database: on PostgreSQL a group's writes go in one pipeline, and a
    stale summary is found only after them (storage/driver.py RoundTrip)."""
    return pki.ctx


async def test_a_kept_summary_another_writer_changed_is_read_again_and_nothing_is_lost(either_ctx):
    ctx = either_ctx
    # The station's events also went through another connection meanwhile (it reconnected to
    # another worker and came back before this connection was closed): what this connection
    # kept is stale, and writing it back would undo the other writer's counts.
    station = FakeStation(ctx, "CS-1")
    await station.send("TransactionEvent", event("Started", 0, "2025-06-01T12:00:00Z", wh=1000))
    await station.send("TransactionEvent", event("Updated", 1, "2025-06-01T12:01:00Z", wh=1100))
    elsewhere = FakeStation(ctx, "CS-1")
    await elsewhere.send("TransactionEvent", event("Updated", 2, "2025-06-01T12:02:00Z", wh=1200))
    assert await station.send("TransactionEvent", event("Updated", 3, "2025-06-01T12:03:00Z", wh=1300)) == {}
    row = the_transaction(ctx)
    assert (row.events, row.seq_received, row.seq_missing, row.meter_last_wh, row.energy_wh) == (4, 4, 0, 1300, 300)
    assert [e.seq_no for e in rows(ctx, TransactionEvent)] == [0, 1, 2, 3]   # none stored twice
    assert len(sampled(ctx)) == 4


async def test_in_a_group_a_stale_summary_fails_only_the_group_and_every_event_is_stored_once(either_ctx):
    ctx = either_ctx
    ours, other = FakeStation(ctx, "CS-1"), FakeStation(ctx, "CS-2")
    for station in (ours, other):
        await station.send("TransactionEvent", event("Started", 0, "2025-06-01T12:00:00Z", wh=1000))
    await FakeStation(ctx, "CS-1").send("TransactionEvent", event("Updated", 1, "2025-06-01T12:01:00Z", wh=1100))
    # Stored as the gateway stores them: in one group (nothing journaled, so both wait for it).
    store = await WriteBehind(ctx.engine, answer_events, journaling=None, store_within=0, gather=0.01,
                              on_stored=remember, retry_on=(StaleSummary,)).start()
    calls = [StationCall(ctx, station.config, station.connection, station.boot, station.live, write_behind=store)
             for station in (ours, other)]
    try:
        answers = await asyncio.gather(*(transaction_event(call, event("Updated", 2, "2025-06-01T12:02:00Z",
                                                                        wh=1200)) for call in calls))
    finally:
        await store.aclose()
    assert answers == [{}, {}]
    for station_id, events_count in (("CS-1", 3), ("CS-2", 2)):
        (row,) = rows(ctx, Transaction, Transaction.station_id == station_id)
        assert (row.events, row.seq_received, row.meter_last_wh) == (events_count, events_count, 1200)
        assert len(rows(ctx, TransactionEvent, TransactionEvent.transaction_pk == row.id)) == events_count


def _summary_updates(ctx) -> list[str]:
    """The UPDATEs of transaction rows run on ``ctx``'s (SQLite) engine from now on, as SQLite
    ran them: the event path writes them below SQLAlchemy's events."""
    from sqlalchemy import event as sa_event

    statements: list[str] = []

    def traced(dbapi_connection, _record, _proxy) -> None:
        dbapi_connection.set_trace_callback(
            lambda sql: statements.append(sql) if sql.startswith("UPDATE charging_transaction") else None)

    sa_event.listen(ctx.engine, "checkout", traced)
    return statements


async def test_an_event_writes_back_only_the_columns_it_changed(ctx):
    # Writing a column rewrites its index entries even when the value is the same: an Updated
    # event must leave the indexed start, end and token of its transaction alone.
    station = FakeStation(ctx, "CS-1")
    updates = _summary_updates(ctx)
    token = {"idToken": "04A1B2C3", "type": "ISO14443"}
    await station.send("TransactionEvent", event("Started", 0, "2025-06-01T12:00:00Z", wh=1000, idToken=token))
    await station.send("TransactionEvent", event("Updated", 1, "2025-06-01T12:01:00Z", wh=1100))
    await station.send("TransactionEvent", event("Ended", 2, "2025-06-01T12:02:00Z", "EVDeparted", wh=1200))
    started, updated, ended = (sql.split(" WHERE ")[0] for sql in updates)
    assert all(column in started for column in ("started_at", "id_token"))
    assert not any(column in updated for column in ("started_at", "ended_at", "id_token"))
    assert "meter_last_wh" in updated
    assert "ended_at" in ended and "started_at" not in ended
    row = the_transaction(ctx)
    assert (row.id_token, row.events, row.energy_wh, row.started_at.minute, row.ended_at.minute) == (
        "04A1B2C3", 3, 200, 0, 2)


@pytest.mark.parametrize("kept", ["the frame's text", "the payload"])
def test_a_journal_entry_reads_back_as_the_event_the_station_sent_every_character_kept(kept):
    import json
    from datetime import datetime, timezone

    from api.csms.transactions.handlers import journal_entry, restore
    from api.ocpp import framing

    payload = event("Updated", 7, "2025-06-01T12:07:00Z", wh=1234.5, tx="tx-é😀\u0001")
    # As a station may send it: spread over lines, a character as an escape, one as itself.
    text = '[2, "m-1",\n "TransactionEvent",\n' + json.dumps(payload, indent=1).replace("é", "\\u00e9") + "]"
    assert framing.parse(text).payload == payload
    received_at = datetime(2026, 12, 6, 20, 0, tzinfo=timezone.utc)
    entry = journal_entry("CS-Ω", received_at, text if kept == "the frame's text" else payload)
    assert entry.isascii() and "\n" not in entry   # one line of the journal
    station_id, restored, restored_payload, known = restore(entry)
    assert (station_id, restored_payload, known) == ("CS-Ω", payload, {})
    assert restored == read_event(payload)._replace(received_at=received_at)


def test_a_journal_entry_whose_frame_is_no_transaction_event_is_refused_by_name():
    from datetime import datetime, timezone

    from api.csms.transactions.handlers import journal_entry, restore

    entry = journal_entry("CS-1", datetime(2026, 12, 6, tzinfo=timezone.utc), '[2,"m-1","Heartbeat",{}]')
    with pytest.raises(ValueError, match="no TransactionEvent"):
        restore(entry)
