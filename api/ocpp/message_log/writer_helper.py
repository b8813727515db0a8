"""The message log's writer, run as a process of its own (writer_process.py starts it).

It turns the frames the gateway queued into rows (redaction, truncation: rows.py) and appends
them to the log (storage/message_log_append.py) on a connection of its own: that work, a few
tens of microseconds a frame, no longer competes with the gateway's event loop for the
interpreter's lock. It runs at a lower priority than the gateway (``NICE``): sharing a core, the
event loop is run first whenever it has a frame to answer, and the log waits.

Its input, on stdin, is messages of a 4-byte big-endian length and a ``marshal`` payload (plain
values, nothing to execute): first the settings (a dict: ``dialect``, ``target``,
``max_frame_bytes``, ``key``), then ``("frames", [frame, ...])`` any number of times and
``("store",)``, which writes the frames held since the last store in one transaction and
answers on stdout, in the same form: ``("stored", count)`` or ``("failed", count, reason)``.
Ends when stdin ends (its gateway closed it, or died). Interrupts and terminations sent to the
whole process group are its gateway's to act on: it still writes what the gateway flushes on
the way out.

Standard library only, besides rows.py, the append and the SQLite pragmas; psycopg on PostgreSQL.
"""

from __future__ import annotations

import marshal
import os
import signal
import sqlite3
import struct
import sys
from collections.abc import Sequence
from typing import Any, BinaryIO

from api.ocpp.message_log.rows import FrameRows
from storage.message_log_append import append_rows
from storage.sqlite_pragmas import connection_pragmas

# Ten steps below the gateway: a tenth of the gateway's share of a core they contend for
# (the scheduler's weights: 110 against 1024), and the gateway is run as soon as it wakes.
NICE = 10
HEADER = struct.Struct(">I")
# The gateway sends a batch in parts of this many frames (writer_process.py); a message beyond
# this size is not one of its.
MAX_MESSAGE = 256 << 20


def read_message(stream: BinaryIO) -> Any:
    """The next message, or None at the end of the stream."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    if size > MAX_MESSAGE:
        raise ValueError(f"a message of {size} bytes, over the {MAX_MESSAGE} a gateway sends")
    payload = stream.read(size)
    if len(payload) < size:
        return None
    return marshal.loads(payload)


def encode(message: Any) -> bytes:
    payload = marshal.dumps(message)
    return HEADER.pack(len(payload)) + payload


# What the helper's PostgreSQL connection is called in pg_stat_activity.
APPLICATION_NAME = "chargeca message log"


class LogDatabase:
    """The log's database, connected at the first write and again after a write failed. On
    PostgreSQL a write that fails on a connection made for an earlier one is tried once more on a
    new connection: between batches the connection sits idle for seconds, and the server may
    have ended it meanwhile (a restart, an administrator, an idle timeout)."""

    def __init__(self, dialect: str, target: str) -> None:
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"no message log writer for a {dialect!r} database")
        self._postgresql = dialect == "postgresql"
        self._target = target
        self._connection: Any = None

    def append(self, rows: Sequence[tuple]) -> None:
        kept = self._connection is not None
        try:
            self._append_once(rows)
        except Exception:
            if not (kept and self._postgresql):
                raise
            self._append_once(rows)

    def _append_once(self, rows: Sequence[tuple]) -> None:
        if self._connection is None:
            self._connection = self._connect()
        connection = self._connection
        try:
            cursor = connection.cursor()
            if not self._postgresql:
                cursor.execute("BEGIN IMMEDIATE")
            append_rows(cursor, rows, postgresql=self._postgresql)
            if self._postgresql:
                connection.commit()
            else:   # the connection is in autocommit mode: its commit() would do nothing
                cursor.execute("COMMIT")
        except BaseException:
            # A connection the failure may have left in any state is not used again.
            self._connection = None
            try:
                connection.close()
            except Exception:  # noqa: BLE001, S110 - closing what already failed
                pass
            raise

    def _connect(self) -> Any:
        if self._postgresql:
            import psycopg  # only here: its import costs SQLite's helper ~0.15 s for nothing

            return psycopg.connect(self._target, application_name=APPLICATION_NAME)
        connection = sqlite3.connect(self._target, isolation_level=None, timeout=30)
        # As storage/db.py sets a connection of the log's engine (made with the default checkpoint).
        for pragma in connection_pragmas():
            connection.execute(f"PRAGMA {pragma}")
        return connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def serve(requests: BinaryIO, replies: BinaryIO) -> None:
    settings = read_message(requests)
    if settings is None:
        return
    rows = FrameRows(settings["max_frame_bytes"], settings["key"])
    database = LogDatabase(settings["dialect"], settings["target"])
    held: list[tuple] = []
    try:
        while (message := read_message(requests)) is not None:
            if message[0] == "frames":
                held += message[1]
                continue
            try:
                database.append(rows(held))
                reply: tuple = ("stored", len(held))
            except Exception as exc:  # noqa: BLE001 - the gateway counts the batch lost and says why
                reason = next(iter(str(exc).strip().splitlines()), "")
                reply = ("failed", len(held), f"{type(exc).__name__}: {reason}")
            held = []
            replies.write(encode(reply))
            replies.flush()
    finally:
        database.close()


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.nice(NICE)
    serve(sys.stdin.buffer, sys.stdout.buffer)
