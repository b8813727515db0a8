"""The per-station OCPP message log: every frame in and out of a station session, as written by
the gateway's background writer (api/ocpp/message_log/recorder.py), already redacted.

Where it lives (``message_log_engine``): in the database itself, except on a SQLite file, where
the log has a file of its own beside the database. SQLite has one writer at a time per file, and
a log batch (thousands of frames, tens of milliseconds) holding the database's write lock made
every station's TransactionEvent wait behind it; in a file of its own it writes beside them.

Rows are appended only; ``id`` grows with insertion, so it orders frames as the gateway saw them
and serves as the paging key. Retention deletes by time and by a ceiling on the row count
(``prune``), in chunks, so that a large pass never holds the write lock for long.
"""

from __future__ import annotations

import functools
import time
import weakref
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import BigInteger, Index, Integer, Text, delete, event, func
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select
from sqlmodel.sql.expression import SelectOfScalar

from storage.db import make_engine, restrict_sqlite_files, sqlite_file
from storage.gil_slices import in_slices
from storage.types import UtcDateTime, utcnow

IN, OUT = "in", "out"
CALL, CALLRESULT, CALLERROR, MALFORMED = "CALL", "CALLRESULT", "CALLERROR", "MALFORMED"
ACTION_MAX = 64


class OcppMessage(SQLModel, table=True):
    __tablename__ = "ocpp_message"
    __table_args__ = (
        Index("ix_ocpp_message_station_id", "station_id", "id"),
        Index("ix_ocpp_message_at", "at"),
    )

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
    event.listen(log_engine, "connect", _keep_the_stations_leaves)
    OcppMessage.__table__.create(log_engine, checkfirst=True)  # type: ignore[attr-defined]
    restrict_sqlite_files(str(url))
    _move_frames_kept_in(path, log_engine)
    return log_engine


# The log file's page cache, in KiB. Each batch adds a row under every station in the per-station
# index, and each station's newest leaf is a page of its own: ~4 MB for 1,000 stations, past
# SQLite's default 2 MB, so a batch read most of them again from the file. A log holding 1,000,000
# frames (scripts/bench_message_log.py --filled 1000000, four runs alternating with the default):
# a Heartbeat and its answer 8.8 + 10.3 µs to insert against 10.2 + 11.2 (docs/benchmarks.md).
LOG_PAGE_CACHE_KIB = 32 * 1024


def _keep_the_stations_leaves(dbapi_connection, _record) -> None:  # noqa: ANN001
    dbapi_connection.execute(f"PRAGMA cache_size=-{LOG_PAGE_CACHE_KIB}")


def _move_frames_kept_in(database: Path, log_engine: Engine) -> None:
    columns = ", ".join(COLUMNS)
    with log_engine.connect() as connection:
        raw = connection.connection.driver_connection
        raw.execute("ATTACH DATABASE ? AS kept", (str(database),))
        try:
            if raw.execute("SELECT 1 FROM kept.sqlite_master WHERE name = 'ocpp_message'").fetchone() and \
                    raw.execute("SELECT 1 FROM kept.ocpp_message LIMIT 1").fetchone():
                raw.begin_writing()
                raw.execute(f"INSERT INTO main.ocpp_message ({columns}) SELECT {columns} FROM kept.ocpp_message "
                            "ORDER BY id")
                raw.execute("DELETE FROM kept.ocpp_message")
                raw.commit()
        finally:
            raw.execute("DETACH DATABASE kept")


# The columns a row tuple of ``insert_rows`` carries, in order.
COLUMNS = ("station_id", "direction", "kind", "message_id", "action", "at", "size", "frame", "truncated")
_AT = COLUMNS.index("at")


def insert_rows(session: Session, rows: Sequence[tuple]) -> int:
    """Row tuples (``COLUMNS`` order, ``at`` as POSIX seconds) inserted by executemany (COPY on
    PostgreSQL), in the session's transaction; how many were written.

    A driver-level statement: at a gateway's thousands of frames a second, building and binding
    a Core insert per row cost twice the insert itself, and the time column's bind processing
    alone a quarter of it. The time goes in as each dialect stores a UtcDateTime: on SQLite the
    text SQLAlchemy's DATETIME writes (UTC, microseconds), elsewhere an aware datetime; rows
    read back through the model like any other's (tests/ocpp/test_message_log.py)."""
    if not rows:
        return 0
    connection = session.connection()
    stored_time = _sqlite_time if connection.dialect.name == "sqlite" else _aware_time

    def stored(part: Sequence[tuple]) -> list[tuple]:
        return [(*row[:_AT], stored_time(row[_AT]), *row[_AT + 1:]) for row in part]

    # In slices, one transaction: the gateway's event loop runs between them (storage/gil_slices.py).
    cursor = connection.connection.cursor()
    try:
        if connection.dialect.name == "postgresql":
            # COPY: psycopg's executemany spent ~13 µs of Python per row, COPY ~4-5.
            with cursor.copy(_COPY) as copy:
                for part in in_slices(rows):
                    for row in stored(part):
                        copy.write_row(row)
        else:
            statement = _statement(connection.dialect.paramstyle)
            for part in in_slices(rows):
                cursor.executemany(statement, stored(part))
    finally:
        cursor.close()
    return len(rows)


_COPY = f"COPY {OcppMessage.__tablename__} ({', '.join(COLUMNS)}) FROM STDIN"


@functools.cache
def _statement(paramstyle: str) -> str:
    marker = "?" if paramstyle == "qmark" else "%s"
    return (f"INSERT INTO {OcppMessage.__tablename__} ({', '.join(COLUMNS)}) "
            f"VALUES ({', '.join([marker] * len(COLUMNS))})")


def _aware_time(at: float) -> datetime:
    return datetime.fromtimestamp(at, timezone.utc)


@functools.lru_cache(maxsize=64)
def _sqlite_second(second: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))


def _sqlite_time(at: float) -> str:
    # Frames of one batch share a handful of seconds: the date part is formatted once per second.
    second = int(at)
    return f"{_sqlite_second(second)}.{min(999999, round((at - second) * 1e6)):06d}"


@dataclass(frozen=True)
class MessageQuery:
    station_id: str | None = None
    action: str | None = None
    direction: str | None = None
    kind: str | None = None
    message_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

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


def oldest_first(session: Session, criteria: MessageQuery, *, after_id: int | None, limit: int) -> list[OcppMessage]:
    query = criteria.select()
    if after_id is not None:
        query = query.where(OcppMessage.id > after_id)
    return list(session.exec(query.order_by(OcppMessage.id).limit(limit)))


def prune(session_for: Callable[[], ContextManager[Session]], *, older_than: timedelta, max_rows: int,
          chunk: int = 5000, now: datetime | None = None) -> int:
    """Delete frames logged before ``now - older_than`` and the oldest beyond ``max_rows``, one
    chunk per transaction (``session_for()`` opens one), so that a large pass never holds the
    write lock for long. Returns how many rows went."""
    cutoff = (now or utcnow()) - older_than
    deleted = _delete_chunks(session_for, select(OcppMessage.id).where(OcppMessage.at < cutoff), chunk)
    with session_for() as session:
        newest = session.exec(select(func.max(OcppMessage.id))).one()
    if newest is not None and newest > max_rows:
        # Ids grow with insertion, so the newest max_rows rows sit at or above this id (gaps only
        # make us keep fewer): one index lookup instead of counting millions of rows.
        deleted += _delete_chunks(session_for, select(OcppMessage.id).where(OcppMessage.id <= newest - max_rows),
                                  chunk)
    return deleted


def _delete_chunks(session_for: Callable[[], ContextManager[Session]], ids: SelectOfScalar, chunk: int) -> int:
    deleted = 0
    while True:
        with session_for() as session:
            batch = ids.limit(chunk).scalar_subquery()
            gone = session.exec(delete(OcppMessage).where(OcppMessage.id.in_(batch))).rowcount or 0
        deleted += gone
        if gone < chunk:
            return deleted
