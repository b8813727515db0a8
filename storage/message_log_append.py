"""The message log's append, on a bare DBAPI cursor: what storage/message_log.py ``insert_rows``
runs inside a SQLAlchemy session, and what the log's helper process
(api/ocpp/message_log/writer_helper.py) runs on a connection of its own.

Standard library only, and nothing of SQLAlchemy: the helper starts in tens of milliseconds
instead of the ~0.4 s an import of SQLAlchemy and the models costs (a gateway starts one).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone

IN, OUT = "in", "out"
CALL, CALLRESULT, CALLERROR, MALFORMED = "CALL", "CALLRESULT", "CALLERROR", "MALFORMED"
ACTION_MAX = 64
MESSAGES, SPANS, BATCHES = "ocpp_message", "ocpp_message_span", "ocpp_message_batch"
# Ids per span. A read of one station's frames scans a span's ids whole (~4 ms in SQLite): larger
# spans make a fleet's log cheaper to write and a station's frames slower to read. Migration 0022
# built the first spans with this value; changing it means building them again.
SPAN_IDS = 1 << 16
# The columns a row tuple carries, in order (the id is drawn here).
COLUMNS = ("station_id", "direction", "kind", "message_id", "action", "at", "size", "frame", "truncated")
_AT = COLUMNS.index("at")

Slices = Callable[[Sequence[tuple]], Iterable[Sequence[tuple]]]


def whole(rows: Sequence[tuple]) -> Iterable[Sequence[tuple]]:
    """One slice: for a process that shares its interpreter with nobody."""
    return (rows,)


def append_rows(cursor, rows: Sequence[tuple], *, postgresql: bool, slices: Slices = whole) -> None:  # noqa: ANN001
    """Row tuples (``COLUMNS`` order, ``at`` as POSIX seconds) inserted by executemany (COPY on
    PostgreSQL) in the cursor's transaction, with the spans of their stations and the row of
    their batch. ``slices`` cuts the rows into the parts written one after the other.

    The time goes in as each dialect stores a UtcDateTime (storage/types.py): on SQLite the text
    SQLAlchemy's DATETIME writes (UTC, microseconds), elsewhere an aware datetime. The ids are
    given here, in the rows' order, so that each frame's span is known without reading it back."""
    if not rows:
        return
    stored_time = _aware_time if postgresql else _sqlite_time
    ids = _new_ids(cursor, len(rows), postgresql)
    next_id = iter(ids).__next__

    def stored(part: Sequence[tuple]) -> list[tuple]:
        return [(next_id(), *row[:_AT], stored_time(row[_AT]), *row[_AT + 1:]) for row in part]

    if postgresql:
        # COPY: psycopg's executemany spent ~13 µs of Python per row, COPY ~4-5.
        with cursor.copy(_COPY) as copy:
            for part in slices(rows):
                for row in stored(part):
                    copy.write_row(row)
    else:
        for part in slices(rows):
            cursor.executemany(_INSERT, stored(part))
    # Sorted: two processes noting the same spans take their row locks in one order (PostgreSQL).
    spans = sorted({(row[0], frame_id // SPAN_IDS) for row, frame_id in zip(rows, ids)})
    if postgresql:
        cursor.execute(_NOTE_SPANS_PG, ([station for station, _ in spans], [span for _, span in spans]))
    else:
        cursor.executemany(_NOTE_SPANS_SQLITE, spans)
    times = [row[_AT] for row in rows]
    cursor.execute(_NOTE_BATCH_PG if postgresql else _NOTE_BATCH_SQLITE,
                   (min(ids), max(ids), stored_time(min(times)), stored_time(max(times))))


def _new_ids(cursor, count: int, postgresql: bool) -> Sequence[int]:  # noqa: ANN001
    if postgresql:
        # Drawn from the column's own sequence: other processes append beside this one.
        return [row[0] for row in cursor.execute(_DRAW_IDS_PG, (count,))]
    # On SQLite this transaction holds the write lock: nothing else appends until it ends.
    newest = cursor.execute(_NEWEST_ID).fetchone()[0]
    first = (newest or 0) + 1
    return range(first, first + count)


_NAMES = ", ".join(("id", *COLUMNS))
_COPY = f"COPY {MESSAGES} ({_NAMES}) FROM STDIN"
_INSERT = f"INSERT INTO {MESSAGES} ({_NAMES}) VALUES ({', '.join('?' * (len(COLUMNS) + 1))})"
_NEWEST_ID = f"SELECT max(id) FROM {MESSAGES}"
_DRAW_IDS_PG = f"SELECT nextval(pg_get_serial_sequence('{MESSAGES}', 'id')) FROM generate_series(1, %s)"
_NOTE_SPANS_SQLITE = f"INSERT OR IGNORE INTO {SPANS} (station_id, span) VALUES (?, ?)"
_NOTE_BATCH_SQLITE = f"INSERT INTO {BATCHES} (first_id, last_id, earliest, latest) VALUES (?, ?, ?, ?)"
_NOTE_BATCH_PG = _NOTE_BATCH_SQLITE.replace("?", "%s")
_NOTE_SPANS_PG = (f"INSERT INTO {SPANS} (station_id, span) "
                  "SELECT * FROM unnest(%s::text[], %s::bigint[]) ON CONFLICT DO NOTHING")


def _aware_time(at: float) -> datetime:
    return datetime.fromtimestamp(at, timezone.utc)


@functools.lru_cache(maxsize=64)
def _sqlite_second(second: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))


def _sqlite_time(at: float) -> str:
    # Frames of one batch share a handful of seconds: the date part is formatted once per second.
    second = int(at)
    return f"{_sqlite_second(second)}.{min(999999, round((at - second) * 1e6)):06d}"
