"""A serving process copies its SQLite database's write-ahead log back into the database from a
thread of its own, instead of in whichever commit takes the WAL past a mark.

A checkpoint made by a commit holds up every writer queued behind that commit: at a charging
fleet's thousand TransactionEvents a second, those were the slowest answers (docs/benchmarks.md,
"WAL checkpointer"). This thread checkpoints PASSIVE, which waits for no reader or writer and
which writers do not wait for, a moment after anything was committed. The server's connections
still checkpoint on commit, but only past BACKSTOP_PAGES: a checkpointer that falls behind (a
disk stalled, a reader holding an old snapshot) must not let the WAL grow without bound. Other
processes (CLI commands, scripts) keep checkpointing on commit, as they write alone.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from sqlalchemy.engine import Engine

from storage.db import sqlite_file

log = logging.getLogger("chargeca.storage")

# At 1,000 events a second a charging fleet writes ~4,000 pages a second: ~200 between two passes.
PASS_EVERY_SECONDS = 0.05
# Five passes' worth: reached only when this thread falls that far behind.
BACKSTOP_PAGES = 1_000


class WalCheckpointer:
    """``start()`` it for a SQLite file, ``stop()`` it before the process ends (also a context
    manager). ``passes`` counts its checkpoints; ``largest_wal`` is the most pages one found in the
    WAL (near BACKSTOP_PAGES: the commits' backstop may have checkpointed too)."""

    def __init__(self, database: Path, *, every: float = PASS_EVERY_SECONDS) -> None:
        self.database = database
        self.every = every
        self.passes = 0
        self.largest_wal = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"wal-checkpointer:{database.name}", daemon=True)
        self._last_error: str | None = None

    def start(self) -> WalCheckpointer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
            log.info("WAL checkpoints of %s: %d made, the WAL at most %d pages", self.database.name, self.passes,
                     self.largest_wal)

    def __enter__(self) -> WalCheckpointer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        seen: int | None = None
        try:
            while not self._stop.wait(self.every):
                try:
                    if connection is None:
                        connection = sqlite3.connect(self.database, isolation_level=None, timeout=0)
                    # Changes whenever another connection committed; reading it touches no page.
                    version = connection.execute("PRAGMA data_version").fetchone()[0]
                    if version == seen:
                        continue
                    # The WAL's pages since it last started over, and how many of them are copied.
                    _busy, frames, _copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    seen = version
                    self.passes += 1
                    self.largest_wal = max(self.largest_wal, frames)
                    self._last_error = None
                except sqlite3.Error as exc:
                    self._report(exc)
                    if connection is not None:
                        connection.close()
                        connection = None
        finally:
            if connection is not None:
                connection.close()

    def _report(self, exc: sqlite3.Error) -> None:
        # Once per distinct error, not twenty times a second; the commits' backstop keeps the WAL
        # bounded meanwhile.
        message = f"{type(exc).__name__}: {exc}"
        if message != self._last_error:
            log.warning("WAL checkpoints of %s failed (%s); commits checkpoint past %d pages until they work again",
                        self.database, message, BACKSTOP_PAGES)
            self._last_error = message


def checkpointer_for(engine: Engine) -> WalCheckpointer | None:
    """A checkpointer (not started) for the SQLite file ``engine`` writes; None for PostgreSQL
    or an in-memory database, which have no WAL."""
    database = sqlite_file(engine)
    return None if database is None else WalCheckpointer(database)
