"""SQLite's writers in one process take turns on a lock of ours, not in SQLite's busy handler.

SQLite has one writer at a time. A connection that finds the write lock taken waits in its busy
handler, which sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100, 100 … ms between tries,
however soon the lock is free again. A burst of writes from this process's threads (an officer's
hundred GetLog requests while the group commit stores the fleet's events) then served them
tens to hundreds of milliseconds apart: up to 440 ms for one BEGIN IMMEDIATE, measured in
scripts/bench_uploads.py (docs/benchmarks.md, 2026-12-05 late evening). Queued on a
``threading.Lock`` instead, the next writer starts as the last one ends.

The lock is taken just before BEGIN IMMEDIATE and given back once the transaction has ended
(commit, rollback, or the connection closed); a writer in another process (the file service,
a CLI command) is still waited for in SQLite's busy handler. A connection to an in-memory database
shares it with no other connection and takes no lock.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(database: Any, uri: bool) -> threading.Lock | None:
    """The lock of the database file ``database`` names, shared by every connection of this
    process to that file; None for an in-memory database."""
    name = os.fsdecode(database)
    if name in ("", ":memory:") or (uri and "mode=memory" in name):
        return None
    if uri:
        name = name.removeprefix("file:").split("?", 1)[0]
    key = os.path.realpath(name)
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


class WriterQueuedConnection(sqlite3.Connection):
    """A DBAPI connection (``sqlite3.connect(..., factory=WriterQueuedConnection)``) whose write
    transactions begin with ``begin_writing``."""

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._writers = _lock_for(database, bool(kwargs.get("uri")))
        self._holding = False
        # As long as SQLite's own busy handler would wait for another connection.
        self.writer_wait = float(kwargs.get("timeout", 5.0))

    def begin_writing(self) -> None:
        """BEGIN IMMEDIATE, once this process's other writers are done."""
        if self._writers is not None and not self._holding:
            if not self._writers.acquire(timeout=self.writer_wait):
                raise sqlite3.OperationalError(
                    f"database is locked (another writer of this process held it for {self.writer_wait:g} s)")
            self._holding = True
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release_when_ended()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release_when_ended()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()   # closing ends any transaction it had

    def _release_when_ended(self) -> None:
        # A COMMIT that failed leaves the transaction open: the lock stays until its rollback.
        try:
            ended = not self.in_transaction
        except sqlite3.ProgrammingError:   # closed meanwhile
            ended = True
        if ended:
            self._release()

    def _release(self) -> None:
        if self._holding:
            self._holding = False
            self._writers.release()  # type: ignore[union-attr]
