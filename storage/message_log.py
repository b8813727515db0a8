"""The per-station OCPP message log: every frame in and out of a station session, as written by
the gateway's background writer (api/ocpp/message_log/recorder.py), already redacted.

Where it lives (``message_log_engine``): in the database itself, except on a SQLite file, where
the log has a file of its own beside the database. SQLite has one writer at a time per file, and
a log batch (thousands of frames, tens of milliseconds) holding the database's write lock made
every station's TransactionEvent wait behind it; in a file of its own it writes beside them.

Rows are appended only; ``id`` grows with insertion, so it orders frames as the gateway saw them
and serves as the paging key. Retention deletes by time and by a ceiling on the row count
(``prune``), in chunks, so that a large pass never holds the write lock for long.

A station's frames are found through spans, not an index entry per frame: ``ocpp_message_span``
holds a row (station, span) when the station has frames among the ids ``[span * SPAN_IDS,
(span + 1) * SPAN_IDS)``. Each frame's entry in a per-station index was half the cost of logging
it: every batch added one under each station that spoke, each in a page of its own. A station
now costs one row per span (65,536 frames of the whole fleet), and a read of its frames scans
only the spans where it has some (``frames``).

Frames are found by time the same way: ``ocpp_message_batch`` holds a row per write (its first and
last id, its earliest and latest frame), not an index entry per frame. The time index was a
quarter of the cost of logging a Heartbeat and its answer (scripts/bench_message_log.py: ~16-17 µs
of insert a Heartbeat with it, ~11-12 without); a time filter now reads the batches that overlap
it, and the frames between their ids, each still held to the filter.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ocpp.v201.enums import Action
from sqlalchemy import BigInteger, Index, Integer, Text, delete, event, func
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select
from sqlmodel.sql.expression import SelectOfScalar

from storage.db import make_engine, restrict_sqlite_files, sqlite_file
from storage.gil_slices import in_slices
from storage.message_log_append import ACTION_MAX, BATCHES, COLUMNS, MESSAGES, SPAN_IDS, SPANS, append_rows
from storage.types import UtcDateTime, utcnow


class OcppMessage(SQLModel, table=True):
    __tablename__ = MESSAGES

    # BIGINT on PostgreSQL: a fleet's frames outgrow 2^31 within months.
    id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer(), "sqlite"))
    station_id: str = Field(max_length=48)
    direction: str = Field(max_length=3)                # "in": from the station, "out": to it
    kind: str = Field(max_length=10)                    # CALL, CALLRESULT, CALLERROR, MALFORMED
    message_id: str | None = Field(default=None, max_length=36)
    # A CALL's action; for a CALLRESULT/CALLERROR, the action of the CALL it answers (when known).
    action: str | None = Field(default=None, max_length=ACTION_MAX)
    at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)  # the gateway's clock
    size: int                                           # bytes of the frame on the wire (UTF-8)
    frame: str = Field(sa_type=Text)                    # redacted, cut to the policy's max_frame_bytes
    truncated: bool = Field(default=False)


class OcppMessageSpan(SQLModel, table=True):
    """The station has frames among the ids ``[span * SPAN_IDS, (span + 1) * SPAN_IDS)``."""

    __tablename__ = SPANS

    station_id: str = Field(primary_key=True, max_length=48)
    span: int = Field(primary_key=True, sa_type=BigInteger)


class OcppMessageBatch(SQLModel, table=True):
    """The frames one write added (``insert_rows``): ids ``first_id`` to ``last_id`` (on PostgreSQL
    another process's frames may lie between), logged from ``earliest`` to ``latest``."""

    __tablename__ = BATCHES
    __table_args__ = (Index("ix_ocpp_message_batch_earliest", "earliest"),
                      Index("ix_ocpp_message_batch_latest", "latest"))

    first_id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    last_id: int = Field(sa_type=BigInteger)
    earliest: datetime = Field(sa_type=UtcDateTime)
    latest: datetime = Field(sa_type=UtcDateTime)


_LOG_ENGINES: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def message_log_engine(engine: Engine) -> Engine:
    """The engine the message log is written to and read from, for the database ``engine``
    serves: ``engine`` itself, or on a SQLite file the engine of ``<name>.messages<suffix>``
    beside it, made (owner-only, the table created) on first use. Frames an earlier version
    kept in the database file itself are moved there then."""
    if engine.dialect.name != "sqlite":
        return engine
    found = _LOG_ENGINES.get(engine)
    if found is None:
        found = _LOG_ENGINES[engine] = _own_sqlite_file(engine)
        if found is not engine:
            event.listen(engine, "engine_disposed", lambda _engine: found.dispose())
    return found


def _own_sqlite_file(engine: Engine) -> Engine:
    path = sqlite_file(engine)
    if path is None:
        return engine  # nothing beside it to put a file in (tests' throwaway databases)
    url = engine.url.set(database=str(path.with_name(f"{path.stem}.messages{path.suffix}")))
    log_engine = make_engine(url.render_as_string(hide_password=False))
    OcppMessage.__table__.create(log_engine, checkfirst=True)  # type: ignore[attr-defined]
    OcppMessageSpan.__table__.create(log_engine, checkfirst=True)  # type: ignore[attr-defined]
    OcppMessageBatch.__table__.create(log_engine, checkfirst=True)  # type: ignore[attr-defined]
    restrict_sqlite_files(str(url))
    _move_frames_kept_in(path, log_engine)
    _spans_instead_of_the_station_index(log_engine)
    _batches_instead_of_the_time_index(log_engine)
    return log_engine


def _move_frames_kept_in(database: Path, log_engine: Engine) -> None:
    columns = ", ".join(COLUMNS)
    with log_engine.connect() as connection:
        raw = connection.connection.driver_connection
        raw.execute("ATTACH DATABASE ? AS kept", (str(database),))
        try:
            if raw.execute("SELECT 1 FROM kept.sqlite_master WHERE name = 'ocpp_message'").fetchone() and \
                    raw.execute("SELECT 1 FROM kept.ocpp_message LIMIT 1").fetchone():
                raw.begin_writing()
                newest = raw.execute("SELECT coalesce(max(id), 0) FROM main.ocpp_message").fetchone()[0]
                raw.execute(f"INSERT INTO main.ocpp_message ({columns}) SELECT {columns} FROM kept.ocpp_message "
                            "ORDER BY id")
                raw.execute(_SPANS_OF_EVERY_FRAME)
                raw.execute(_BATCHES_OF_FRAMES_AFTER, (newest,))
                raw.execute("DELETE FROM kept.ocpp_message")
                raw.commit()
        finally:
            raw.execute("DETACH DATABASE kept")


_SPANS_OF_EVERY_FRAME = ("INSERT OR IGNORE INTO main.ocpp_message_span (station_id, span) "
                         f"SELECT DISTINCT station_id, id / {SPAN_IDS} FROM main.ocpp_message")


# Frames written before batches were kept: a batch per span of their ids.
_BATCHES_OF_FRAMES_AFTER = ("INSERT INTO main.ocpp_message_batch (first_id, last_id, earliest, latest) "
                            "SELECT min(id), max(id), min(at), max(at) FROM main.ocpp_message WHERE id > ? "
                            f"GROUP BY id / {SPAN_IDS}")


def _spans_instead_of_the_station_index(log_engine: Engine) -> None:
    """A log file an earlier version wrote has an index entry per frame instead of spans."""
    with log_engine.connect() as connection:
        raw = connection.connection.driver_connection
        if raw.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'ix_ocpp_message_station_id'"
                       ).fetchone():
            raw.begin_writing()
            raw.execute(_SPANS_OF_EVERY_FRAME)
            raw.execute("DROP INDEX ix_ocpp_message_station_id")
            raw.commit()


def _batches_instead_of_the_time_index(log_engine: Engine) -> None:
    """A log file an earlier version wrote has an index entry per frame instead of batches."""
    with log_engine.connect() as connection:
        raw = connection.connection.driver_connection
        if raw.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'ix_ocpp_message_at'").fetchone():
            raw.begin_writing()
            raw.execute(_BATCHES_OF_FRAMES_AFTER, (0,))
            raw.execute("DROP INDEX ix_ocpp_message_at")
            raw.commit()


def insert_rows(session: Session, rows: Sequence[tuple]) -> int:
    """Row tuples (``COLUMNS`` order, ``at`` as POSIX seconds) inserted in the session's
    transaction with the spans of their stations and the row of their batch
    (storage/message_log_append.py); how many were written.

    A driver-level statement: at a gateway's thousands of frames a second, building and binding
    a Core insert per row cost twice the insert itself, and the time column's bind processing
    alone a quarter of it. Rows read back through the model like any other's
    (tests/ocpp/test_message_log.py)."""
    if not rows:
        return 0
    connection = session.connection()
    cursor = connection.connection.cursor()
    try:
        # In slices, one transaction: the gateway's event loop runs between them (storage/gil_slices.py).
        append_rows(cursor, rows, postgresql=connection.dialect.name == "postgresql", slices=in_slices)
    finally:
        cursor.close()
    return len(rows)


def helper_can_write(engine: Engine) -> bool:
    """Whether a process of its own can reach the log of the database ``engine`` serves: any but a
    SQLite database in this process's memory (whose log is in it too: ``message_log_engine``)."""
    return engine.dialect.name != "sqlite" or sqlite_file(engine) is not None


def helper_target(engine: Engine) -> tuple[str, str]:
    """Where a process of its own writes the log of the database ``engine`` serves
    (api/ocpp/message_log/writer_helper.py): ("sqlite", the log's file) or ("postgresql", a
    libpq connection URI). Raises ValueError where ``helper_can_write`` says no."""
    if not helper_can_write(engine):
        raise ValueError("the message log is in this process's memory: no other process can write it")
    log_engine = message_log_engine(engine)
    if log_engine.dialect.name == "postgresql":
        return "postgresql", log_engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return "sqlite", str(sqlite_file(log_engine))


# OCPP 2.0.1's actions by their case-folded names: an officer typing "heartbeat" means Heartbeat.
_ACTIONS = {action.value.casefold(): action.value for action in Action}


@dataclass(frozen=True)
class MessageQuery:
    """What to read of the log. ``action`` is matched exactly (a malformed frame may carry any
    action), except that a case variant of one of OCPP's actions is read as that action."""

    station_id: str | None = None
    action: str | None = None
    direction: str | None = None
    kind: str | None = None
    message_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if self.action is not None:
            object.__setattr__(self, "action", _ACTIONS.get(self.action.casefold(), self.action))

    def select(self) -> SelectOfScalar[OcppMessage]:
        query = select(OcppMessage)
        for column, value in ((OcppMessage.station_id, self.station_id), (OcppMessage.action, self.action),
                              (OcppMessage.direction, self.direction), (OcppMessage.kind, self.kind),
                              (OcppMessage.message_id, self.message_id)):
            if value is not None:
                query = query.where(column == value)
        if self.since is not None:
            query = query.where(OcppMessage.at >= self.since)
        if self.until is not None:
            query = query.where(OcppMessage.at < self.until)
        return query


def frames(session: Session, criteria: MessageQuery, *, newest_first: bool, beyond: int | None,
           limit: int) -> list[OcppMessage]:
    """Up to ``limit`` frames ``criteria`` selects, in id order (``newest_first`` or oldest),
    with ids past ``beyond`` in that order. One station's are read span by span, in order,
    until ``limit`` are found."""
    key = OcppMessage.id
    query = criteria.select()
    if criteria.since is not None or criteria.until is not None:
        ids = _ids_logged_within(session, criteria.since, criteria.until)
        if ids is None:
            return []
        query = query.where(key >= ids[0], key <= ids[1])
    if beyond is not None:
        query = query.where(key < beyond if newest_first else key > beyond)
    query = query.order_by(key.desc() if newest_first else key)
    if criteria.station_id is None:
        return list(session.exec(query.limit(limit)))
    found: list[OcppMessage] = []
    for span in _spans(session, criteria.station_id, newest_first=newest_first, beyond=beyond):
        first = span * SPAN_IDS
        found.extend(session.exec(query.where(key >= first, key < first + SPAN_IDS).limit(limit - len(found))))
        if len(found) >= limit:
            break
    return found


def _ids_logged_within(session: Session, since: datetime | None, until: datetime | None) -> tuple[int, int] | None:
    """The first and last id of the batches that logged frames in ``[since, until)``; None when
    none did."""
    batch = OcppMessageBatch
    overlapping = []
    if since is not None:
        overlapping.append(batch.latest >= since)
    if until is not None:
        overlapping.append(batch.earliest < until)
    first, last = session.exec(select(func.min(batch.first_id), func.max(batch.last_id)).where(*overlapping)).one()
    return None if first is None else (first, last)


def _spans(session: Session, station_id: str, *, newest_first: bool, beyond: int | None,
           chunk: int = 256) -> Iterator[int]:
    """The station's spans in order, from the one holding ``beyond``."""
    column = OcppMessageSpan.span
    query = select(column).where(OcppMessageSpan.station_id == station_id)
    query = query.order_by(column.desc() if newest_first else column).limit(chunk)
    edge = None if beyond is None else beyond // SPAN_IDS
    while True:
        bounded = query if edge is None else query.where(column <= edge if newest_first else column >= edge)
        spans = list(session.exec(bounded))
        yield from spans
        if len(spans) < chunk:
            return
        edge = spans[-1] - 1 if newest_first else spans[-1] + 1


def prune(session_for: Callable[[], ContextManager[Session]], *, older_than: timedelta, max_rows: int,
          chunk: int = 5000, now: datetime | None = None) -> int:
    """Delete frames logged before ``now - older_than`` and the oldest beyond ``max_rows``, one
    chunk per transaction (``session_for()`` opens one), so that a large pass never holds the
    write lock for long. Returns how many rows went."""
    cutoff = (now or utcnow()) - older_than
    deleted = 0
    with session_for() as session:
        logged_before = session.exec(select(func.max(OcppMessageBatch.last_id))
                                     .where(OcppMessageBatch.earliest < cutoff)).one()
    if logged_before is not None:
        deleted += _delete_chunks(session_for, select(OcppMessage.id).where(OcppMessage.id <= logged_before,
                                                                           OcppMessage.at < cutoff), chunk)
    with session_for() as session:
        newest = session.exec(select(func.max(OcppMessage.id))).one()
    if newest is not None and newest > max_rows:
        # Ids grow with insertion, so the newest max_rows rows sit at or above this id (gaps only
        # make us keep fewer): one index lookup instead of counting millions of rows.
        deleted += _delete_chunks(session_for, select(OcppMessage.id).where(OcppMessage.id <= newest - max_rows),
                                  chunk)
    if deleted:
        _forget_spans_and_batches_of_deleted_frames(session_for, cutoff)
    return deleted


def _forget_spans_and_batches_of_deleted_frames(session_for: Callable[[], ContextManager[Session]],
                                                cutoff: datetime) -> None:
    """The spans and batches before the oldest frame; and the batches that logged frames before
    ``cutoff`` and have none left (the frames of a batch went by age, one beside it kept some).

    One statement each, one snapshot: a writer's new frames and their spans (their batch) are both
    seen, or neither. An empty log keeps its spans and batches (min is NULL): they cost a scan of
    nothing until frames return."""
    oldest = select(func.min(OcppMessage.id)).scalar_subquery()
    batch = OcppMessageBatch
    emptied = ~select(OcppMessage.id).where(OcppMessage.id >= batch.first_id, OcppMessage.id <= batch.last_id).exists()
    with session_for() as session:
        session.exec(delete(OcppMessageSpan).where(OcppMessageSpan.span < oldest // SPAN_IDS))
    with session_for() as session:
        session.exec(delete(batch).where(batch.last_id < oldest))
        session.exec(delete(batch).where(batch.earliest < cutoff, emptied))


def _delete_chunks(session_for: Callable[[], ContextManager[Session]], ids: SelectOfScalar, chunk: int) -> int:
    deleted = 0
    while True:
        with session_for() as session:
            batch = ids.limit(chunk).scalar_subquery()
            gone = session.exec(delete(OcppMessage).where(OcppMessage.id.in_(batch))).rowcount or 0
        deleted += gone
        if gone < chunk:
            return deleted
