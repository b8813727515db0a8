"""The serving process's WAL checkpointer, on real SQLite files."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from api.ocpp.transport.listener import ListenerConfig
from api.rest.app import create_app
from api.stack import running_stack
from storage.db import make_engine, session_scope
from storage.wal_checkpointer import BACKSTOP_PAGES, WalCheckpointer, checkpointer_for

pytestmark = pytest.mark.fast

ROWS = 40   # ~80 pages of 8,000-byte rows: far below the backstop


def _served_database(path: Path):
    """An engine configured as `chargeca serve`'s, with a table of blobs written to its WAL."""
    engine = make_engine(f"sqlite:///{path}", checkpoint_on_commit_pages=BACKSTOP_PAGES)
    with session_scope(engine) as session:
        session.connection().exec_driver_sql("CREATE TABLE blobs (data BLOB)")
    return engine


def _write(engine) -> None:
    """~80 pages of WAL in 40 commits."""
    for _ in range(ROWS):
        with session_scope(engine) as session:
            session.connection().exec_driver_sql("INSERT INTO blobs VALUES (randomblob(8000))")


def _wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_a_serving_engines_commits_leave_the_wal_to_the_checkpointer(tmp_path):
    """Without the thread, what the server commits stays in the WAL (below the backstop): the
    database file does not grow, so the commits did not stop to copy it."""
    database = tmp_path / "served.sqlite"
    engine = _served_database(database)
    before = database.stat().st_size
    _write(engine)
    time.sleep(0.3)
    assert database.stat().st_size == before
    assert (tmp_path / "served.sqlite-wal").stat().st_size > ROWS * 8000
    engine.dispose()


def test_the_checkpointer_copies_what_was_committed_into_the_database_within_moments(tmp_path):
    database = tmp_path / "served.sqlite"
    engine = _served_database(database)
    before = database.stat().st_size
    with WalCheckpointer(database) as checkpointer:
        _write(engine)
        assert _wait_for(lambda: database.stat().st_size >= before + ROWS * 8000), "the WAL was not copied back"
        # The file grows during the checkpoint, the count just after it: waited for too.
        assert _wait_for(lambda: checkpointer.largest_wal >= ROWS), "the WAL it found held them"
    engine.dispose()


def test_a_checkpointer_with_nothing_committed_copies_nothing(tmp_path):
    database = tmp_path / "quiet.sqlite"
    engine = _served_database(database)
    with WalCheckpointer(database, every=0.01) as checkpointer:
        assert _wait_for(lambda: checkpointer.passes >= 1)   # the table's creation
        passes = checkpointer.passes
        time.sleep(0.2)   # twenty ticks
        assert checkpointer.passes == passes
        _write(engine)
        assert _wait_for(lambda: checkpointer.passes > passes)
    engine.dispose()


def test_a_stopped_checkpointer_leaves_no_thread_behind(tmp_path):
    database = tmp_path / "stopped.sqlite"
    engine = _served_database(database)
    checkpointer = WalCheckpointer(database).start()
    assert checkpointer.running
    checkpointer.stop()
    assert not checkpointer.running
    assert not [t for t in threading.enumerate() if t.name.startswith("wal-checkpointer:stopped")]
    before = database.stat().st_size
    _write(engine)
    time.sleep(0.2)
    assert database.stat().st_size == before, "nothing copies once it is stopped"
    engine.dispose()


def test_a_checkpointer_that_fails_says_so_once_and_keeps_trying(tmp_path, caplog):
    not_a_database = tmp_path / "notes.sqlite"
    not_a_database.write_bytes(b"this is not a SQLite database" * 200)
    with caplog.at_level(logging.WARNING, logger="chargeca.storage"):
        with WalCheckpointer(not_a_database, every=0.01) as checkpointer:
            time.sleep(0.3)   # thirty failed passes
            assert checkpointer.running
    warnings = [r.getMessage() for r in caplog.records if "WAL checkpoints" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "file is not a database" in warnings[0] and str(not_a_database) in warnings[0]
    assert f"commits checkpoint past {BACKSTOP_PAGES} pages" in warnings[0]


def test_a_checkpointer_is_made_only_for_a_sqlite_database_file(db_url):
    engine = make_engine(db_url)
    made = checkpointer_for(engine)
    if engine.dialect.name == "postgresql":
        assert made is None
    else:
        assert made is not None and str(made.database) == engine.url.database and not made.running
    engine.dispose()
    assert checkpointer_for(make_engine("sqlite://")) is None   # in memory: no WAL


def _checkpointer_threads(database: Path) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"wal-checkpointer:{database.name}"]


async def test_the_serving_stack_checkpoints_its_sqlite_database_until_it_stops(sqlite_pki):
    ctx = sqlite_pki.ctx
    database = Path(ctx.engine.url.database)
    with session_scope(ctx.engine) as session:
        session.connection().exec_driver_sql("CREATE TABLE blobs (data BLOB)")
    listener_config = ListenerConfig(host="127.0.0.1", ws_port=0, wss_port=None, ping_interval=None,
                                     tls_watch_interval=None)
    async with running_stack(ctx, create_app(ctx), listener_config=listener_config,
                             certificate_options={"pass_interval": None}):
        assert len(_checkpointer_threads(database)) == 1
        before = database.stat().st_size
        _write(ctx.engine)
        assert _wait_for(lambda: database.stat().st_size >= before + ROWS * 8000)
    assert not _checkpointer_threads(database)
