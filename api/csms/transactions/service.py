"""Transactions as the stations reported them (E01-E15): recording their events, and what other
blocks and the doors may ask of them. No OCPP here: the handler reads the payload.

Events are taken as they come, never refused for their order: a seqNo seen before is kept and
counted as a duplicate, a gap is counted as missing seqNos, an Updated or Ended of a transaction
never started here is kept on a transaction flagged ``unknown_start``, and an offline event that
arrives late only moves the totals it is earlier or later than.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, NamedTuple

from ocpp.v201.enums import TransactionEventEnumType
from sqlalchemy import bindparam, insert, tuple_, update
from sqlmodel import Session, select

from api.csms.meter_values import service as meter_values
from api.csms.meter_values.samples import Sample
from storage.driver import DriverWrite, RoundTrip
from storage.transactions import ID_TOKENS_KEPT, Transaction, TransactionEvent, TransactionStatusAnswer, seq_missing
from storage.types import utcnow

STARTED = TransactionEventEnumType.started.value
UPDATED = TransactionEventEnumType.updated.value
ENDED = TransactionEventEnumType.ended.value


@dataclass(frozen=True)
class TransactionView:
    station_id: str
    transaction_id: str          # as the station reported it
    evse_id: int | None
    connector_id: int | None
    started_at: datetime | None
    ended_at: datetime | None    # None while the transaction runs
    energy_wh: float | None      # Energy.Active.Import.Register delta, when reported
    id_token: str | None


def view(row: Transaction) -> TransactionView:
    return TransactionView(row.station_id, row.transaction_id, row.evse_id, row.connector_id, row.started_at,
                           row.ended_at, row.energy_wh, row.id_token)


# Built once: a station sends an event a second while charging, and building the statement each
# time cost as much as running it.
_ROW = select(Transaction).where(Transaction.station_id == bindparam("station_id"),
                                 Transaction.transaction_id == bindparam("transaction_id"))
_TABLE = Transaction.__table__
_ROWS_CORE = select(_TABLE).where(tuple_(_TABLE.c.station_id, _TABLE.c.transaction_id).in_(bindparam("keys")))
_INSERT_ROW = insert(_TABLE)
# What an event may change of its transaction's row: every column but the keys.
_SUMMARY = tuple(column.name for column in _TABLE.c if column.name not in ("id", "station_id", "transaction_id",
                                                                             "created_at"))


@lru_cache(maxsize=64)
def _update_rows(changed: tuple[str, ...]) -> DriverWrite:
    """The UPDATE of the ``changed`` columns (in _SUMMARY's order) of rows as they were read.

    Only the columns an event changed: a column written, even with the value it had, rewrites its
    index entries, and the row's started_at, ended_at and id_token are indexed; setting them on
    every Updated event tripled the pages each commit wrote on SQLite. A charging fleet's events
    change the same few columns, so few statements are ever built.

    Only over the row as it was read (its event count): a row another writer changed meanwhile is
    found, never overwritten (StaleSummary)."""
    return DriverWrite(update(_TABLE).where(_TABLE.c.id == bindparam("row_pk"),
                                            _TABLE.c.events == bindparam("events_before")).values(
        {name: bindparam(name) for name in changed}))
_INSERT_EVENTS = DriverWrite(insert(TransactionEvent.__table__))
_SEEN = select(TransactionEvent.id).where(TransactionEvent.transaction_pk == bindparam("transaction_pk"),
                                          TransactionEvent.seq_no == bindparam("seq_no")).limit(1)


def transaction_row(session: Session, station_id: str, transaction_id: str) -> Transaction | None:
    return session.exec(_ROW, params={"station_id": station_id, "transaction_id": transaction_id}).first()


def find(session: Session, station_id: str, transaction_id: str) -> TransactionView | None:
    """The transaction ``transaction_id`` of ``station_id``, or None when it was never reported."""
    row = transaction_row(session, station_id, transaction_id)
    return None if row is None else view(row)


class Event(NamedTuple):
    """One TransactionEventRequest, read (the handler's job) into what is stored of it. A
    NamedTuple for the reason Sample is one (api/csms/meter_values/samples.py): built for every
    event of every charging station."""

    event_type: str
    trigger_reason: str
    seq_no: int
    timestamp: datetime
    transaction_id: str
    offline: bool = False
    charging_state: str | None = None
    time_spent_charging: int | None = None
    stopped_reason: str | None = None
    remote_start_id: int | None = None
    number_of_phases_used: int | None = None
    cable_max_current: int | None = None
    reservation_id: int | None = None
    id_token: str | None = None
    id_token_type: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    # When this process took the event, where that was before it was stored (a journaled event,
    # api/csms/transactions/write_behind.py); None: when it is stored.
    received_at: datetime | None = None
    samples: Sequence[Sample] = ()


# The Event's fields that are transaction_event's columns of the same name.
# samples comes last: zip(_EVENT_COLUMNS, event) pairs every other field with its value.
_EVENT_COLUMNS = tuple(name for name in Event._fields if name != "samples")
assert Event._fields[-1] == "samples"


@dataclass(frozen=True)
class Recorded:
    transaction: TransactionView
    duplicate: bool
    seq_missing: int
    seconds: float               # from the start to the latest event (what a running cost covers)
    summary: dict[str, Any]      # the transaction's row as stored: what ``known`` may hold once committed


class StaleSummary(RuntimeError):
    """A summary given in ``known`` was not the stored row any more (another writer changed it):
    nothing of the group is to be committed. The stale summaries are gone from ``known``, so the
    same events recorded again read the rows."""


# Summaries a station's connection keeps of its open transactions (api/csms/transactions/handlers.py):
# a station has a few EVSEs, so a few at once; a station that opens more keeps only the latest.
KNOWN_PER_STATION = 8
# Repeats of seqNos a transaction keeps as rows; past them a repeat is counted (seq_duplicates),
# not kept: a station stuck resending one event wrote a row each time, without end.
DUPLICATES_KEPT = 100


def record(session: Session, station_id: str, event: Event, *, received_at: datetime | None = None) -> Recorded:
    """Store ``event`` and bring its transaction's summary up to date, in ``session``."""
    return record_many(session, [(station_id, event)], received_at=received_at)[0]


def record_many(session: Session, events: Sequence[tuple[str, Event]], *, received_at: datetime | None = None,
                known: Sequence[dict[str, dict[str, Any]] | None] | None = None) -> list[Recorded]:
    """Store ``events`` (station, event), in order, and bring their transactions' summaries up
    to date, in ``session``: one statement per table for the lot (a SELECT of the summaries, a
    multi-row INSERT of the events and of their meter values, a multi-row UPDATE of the
    summaries), whatever their number. This runs for every event of every charging station: a
    group of stations' events costs about what one event did.

    ``known`` (one per event, or None): the summaries, by transactionId, of the event's station's
    transactions as this process last committed them (``Recorded.summary``); those need no read.
    Raises StaleSummary when one of them was not the stored row any more."""
    received_at = received_at or utcnow()
    connection = session.connection()
    keys = list(dict.fromkeys((station_id, event.transaction_id) for station_id, event in events))
    held: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for (station_id, event), summaries in zip(events, known or (), strict=False):
        summary = summaries.get(event.transaction_id) if summaries else None
        if summary is not None:
            held[(station_id, event.transaction_id)] = summaries  # type: ignore[assignment]
            found[(station_id, event.transaction_id)] = summary
    unread = [key for key in keys if key not in found]
    if unread:
        found.update({(row["station_id"], row["transaction_id"]): dict(row)
                      for row in connection.execute(_ROWS_CORE, {"keys": unread}).mappings()})
    rows: dict[tuple[str, str], SimpleNamespace] = {}
    before: dict[tuple[str, str], dict[str, Any]] = {}
    seen_here: set[tuple[int, int]] = set()
    event_rows: list[dict[str, Any]] = []
    sample_rows: list[dict[str, Any]] = []
    # Each event's view of its transaction then, and the transaction: the summary it gets is the
    # row as this call leaves it.
    outcomes: list[tuple[TransactionView, bool, int, float, tuple[str, str]]] = []
    for station_id, event in events:
        key = (station_id, event.transaction_id)
        at = event.received_at or received_at
        row = rows.get(key)
        if row is None:
            before[key] = found.get(key) or _new_row(connection, station_id, event, at)
            row = rows[key] = SimpleNamespace(**before[key])
        duplicate = _repeated(connection, row, event.seq_no, seen_here)
        seen_here.add((row.id, event.seq_no))
        if not duplicate or row.seq_duplicates < DUPLICATES_KEPT:
            event_rows.append({**dict(zip(_EVENT_COLUMNS, event)),
                               "transaction_pk": row.id, "station_id": station_id, "received_at": at,
                               "duplicate": duplicate})
        _summarise(row, event, duplicate)
        row.updated_at = max(row.updated_at, at)
        if not duplicate:
            # A repeated event is a retry of one already stored: its samples are stored already too.
            sample_rows += meter_values.rows(station_id, event.evse_id if event.evse_id is not None else row.evse_id,
                                             event.samples, transaction_pk=row.id,
                                             transaction_id=event.transaction_id, received_at=at)
        start_at = row.started_at or event.timestamp
        seconds = max(0.0, ((row.ended_at or row.last_event_at or event.timestamp) - start_at).total_seconds())
        missing = seq_missing(row.seq_min, row.seq_max, row.seq_received)
        outcomes.append((view(row), duplicate, missing, seconds, key))  # type: ignore[arg-type]
    # The rows by the columns their events changed: one statement for each set.
    updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for key, row in rows.items():
        was, now = before[key], vars(row)
        changed = tuple(name for name in _SUMMARY if now[name] != was[name])
        updates.setdefault(changed, []).append({"row_pk": row.id, "events_before": was["events"],
                                                **{name: now[name] for name in changed}})
    # The three writes in one round trip; a stale summary found after them rolls them back.
    with RoundTrip(connection) as trip:
        counts = [trip.write(_update_rows(changed), alike) for changed, alike in updates.items()]
        trip.write(_INSERT_EVENTS, event_rows)
        trip.write(meter_values.INSERT, sample_rows)
    updated = sum(count.value for count in counts)
    if updated != len(rows):
        for key, summaries in held.items():
            summaries.pop(key[1], None)
        raise StaleSummary(f"{len(rows) - updated} of {len(rows)} transactions changed since they were read")
    stored = {key: dict(vars(row)) for key, row in rows.items()}
    return [Recorded(*outcome, stored[key]) for *outcome, key in outcomes]


def _new_row(connection: Any, station_id: str, event: Event, received_at: datetime) -> dict[str, Any]:
    row = Transaction(station_id=station_id, transaction_id=event.transaction_id,
                      unknown_start=event.event_type != STARTED, created_at=received_at).model_dump()
    del row["id"]
    row["id"] = connection.execute(_INSERT_ROW, row).inserted_primary_key[0]
    return row


def _repeated(connection: Any, row: Any, seq_no: int, seen_here: set[tuple[int, int]]) -> bool:
    """Was ``seq_no`` stored for ``row`` before? Only a seqNo within those seen can be a repeat:
    the usual next one needs no lookup."""
    if (row.id, seq_no) in seen_here:
        return True
    within = row.seq_min is not None and row.seq_max is not None and row.seq_min <= seq_no <= row.seq_max
    return within and connection.execute(_SEEN, {"transaction_pk": row.id, "seq_no": seq_no}).first() is not None


def _summarise(row: Any, event: Event, duplicate: bool) -> None:
    row.events += 1
    row.offline_events += event.offline
    if duplicate:
        row.seq_duplicates += 1
    else:
        row.seq_received += 1
        row.seq_min = event.seq_no if row.seq_min is None else min(row.seq_min, event.seq_no)
        row.seq_max = event.seq_no if row.seq_max is None else max(row.seq_max, event.seq_no)
    if event.evse_id is not None and row.evse_id is None:
        row.evse_id = event.evse_id
    if event.connector_id is not None and row.connector_id is None:
        row.connector_id = event.connector_id
    if event.id_token is not None:
        _seen_token(row, event.id_token, event.id_token_type)
    if event.event_type == STARTED:
        row.started_at, row.start_trigger, row.unknown_start = event.timestamp, event.trigger_reason, False
    elif row.unknown_start and (row.started_at is None or event.timestamp < row.started_at):
        row.started_at = event.timestamp  # the earliest we know of until the Started arrives
    if event.event_type == ENDED:
        row.ended_at, row.stop_trigger = event.timestamp, event.trigger_reason
        row.stopped_reason = event.stopped_reason or row.stopped_reason
    latest = row.last_event_at is None or event.timestamp >= row.last_event_at
    if latest:
        row.last_event_at = event.timestamp
    for name in ("charging_state", "time_spent_charging"):
        value = getattr(event, name)
        if value is not None and (latest or getattr(row, name) is None):
            setattr(row, name, value)
    for name in ("remote_start_id", "reservation_id"):
        if getattr(event, name) is not None:
            setattr(row, name, getattr(event, name))
    _energy(row, event.samples)


def _seen_token(row: Any, id_token: str, id_token_type: str | None) -> None:
    if row.id_token is None:
        row.id_token, row.id_token_type = id_token, id_token_type
    seen: list[dict[str, Any]] = json.loads(row.id_tokens_seen)
    entry = {"idToken": id_token, "type": id_token_type}
    if entry not in seen and len(seen) < ID_TOKENS_KEPT:
        row.id_tokens_seen = json.dumps([*seen, entry])


def _energy(row: Any, samples: Sequence[Sample]) -> None:
    for sample in samples:
        wh = sample.register_wh
        if wh is None:
            continue
        if row.meter_first_at is None or sample.sampled_at < row.meter_first_at:
            row.meter_first_wh, row.meter_first_at = wh, sample.sampled_at
        if row.meter_last_at is None or sample.sampled_at >= row.meter_last_at:
            row.meter_last_wh, row.meter_last_at = wh, sample.sampled_at
    if row.meter_first_wh is not None and row.meter_last_wh is not None:
        row.energy_wh = row.meter_last_wh - row.meter_first_wh


# --- reading, for the doors -------------------------------------------------------------------

ONGOING, FINISHED = "ongoing", "ended"
# A transaction's detail lists at most this many of its missing seqNos (the count is always whole).
MISSING_LISTED = 1000
# ... and this many of its events and charging-state changes: a day's charge at an event every
# few seconds, where every one loaded at once held the process for seconds (the summary counts all).
DETAIL_LISTED = 10_000


@dataclass(frozen=True)
class TransactionQuery:
    station_id: str | None = None
    id_token: str | None = None
    state: str | None = None           # ONGOING or FINISHED
    since: datetime | None = None      # started at or after
    until: datetime | None = None      # started before


def query(criteria: TransactionQuery):
    statement = select(Transaction)
    if criteria.station_id is not None:
        statement = statement.where(Transaction.station_id == criteria.station_id)
    if criteria.id_token is not None:
        statement = statement.where(Transaction.id_token == criteria.id_token)
    if criteria.state == ONGOING:
        statement = statement.where(Transaction.ended_at.is_(None))  # type: ignore[union-attr]
    elif criteria.state == FINISHED:
        statement = statement.where(Transaction.ended_at.is_not(None))  # type: ignore[union-attr]
    if criteria.since is not None:
        statement = statement.where(Transaction.started_at >= criteria.since)
    if criteria.until is not None:
        statement = statement.where(Transaction.started_at < criteria.until)
    return statement


@dataclass(frozen=True)
class Detail:
    transaction: Transaction
    events: list[TransactionEvent]           # by seqNo, then arrival: the first DETAIL_LISTED
    missing_seq_nos: list[int]               # the first MISSING_LISTED
    charging_states: list[tuple[datetime, str]]  # the timeline, by the station's timestamps: the first DETAIL_LISTED
    status_answers: list[TransactionStatusAnswer]  # GetTransactionStatus answers about it, oldest first


def detail(session: Session, station_id: str, transaction_id: str) -> Detail | None:
    row = transaction_row(session, station_id, transaction_id)
    if row is None:
        return None
    of_it = TransactionEvent.transaction_pk == row.id
    events = list(session.exec(select(TransactionEvent).where(of_it)
                               .order_by(TransactionEvent.seq_no, TransactionEvent.id).limit(DETAIL_LISTED)))
    answers = list(session.exec(select(TransactionStatusAnswer).where(
        TransactionStatusAnswer.station_id == station_id, TransactionStatusAnswer.transaction_id == transaction_id)
        .order_by(TransactionStatusAnswer.id)))
    return Detail(row, events, _missing(session, of_it), _timeline(session, of_it), answers)


def _missing(session: Session, of_it: Any) -> list[int]:
    """The first MISSING_LISTED seqNos missing between the lowest and the highest received."""
    missing: list[int] = []
    expected = None
    for seq_no in session.exec(select(TransactionEvent.seq_no).where(of_it).distinct()
                               .order_by(TransactionEvent.seq_no)):
        if expected is not None:
            missing += range(expected, min(seq_no, expected + MISSING_LISTED - len(missing)))
            if len(missing) == MISSING_LISTED:
                break
        expected = seq_no + 1
    return missing


def _timeline(session: Session, of_it: Any) -> list[tuple[datetime, str]]:
    """The charging state's changes by the station's timestamps, the first DETAIL_LISTED."""
    timeline: list[tuple[datetime, str]] = []
    for at, state in session.exec(select(TransactionEvent.timestamp, TransactionEvent.charging_state)
                                  .where(of_it, TransactionEvent.charging_state.is_not(None))  # type: ignore[union-attr]
                                  .order_by(TransactionEvent.timestamp, TransactionEvent.seq_no, TransactionEvent.id)):
        if not timeline or timeline[-1][1] != state:
            if len(timeline) == DETAIL_LISTED:
                break
            timeline.append((at, state))
    return timeline


def keep_status_answer(session: Session, station_id: str, request: dict[str, Any], answer: dict[str, Any],
                       asked_by: str) -> TransactionStatusAnswer:
    """Keep a station's GetTransactionStatus answer (E14) to ``request``."""
    row = TransactionStatusAnswer(station_id=station_id, transaction_id=request.get("transactionId"),
                                  messages_in_queue=answer["messagesInQueue"],
                                  ongoing_indicator=answer.get("ongoingIndicator"), asked_by=asked_by)
    session.add(row)
    return row
