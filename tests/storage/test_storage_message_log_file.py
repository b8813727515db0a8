"""Where the message log lives: on SQLite, a file of its own beside the database, so that its
large batches never hold the database's write lock (stations' TransactionEvents waited behind
them); on PostgreSQL, the database itself."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from migrated_template import migrate_for_test
from sqlalchemy import func
from sqlmodel import select

from storage.db import make_engine, session_scope
from storage.message_log import MessageQuery, OcppMessage, frames, insert_rows, message_log_engine
from storage.types import utcnow

pytestmark = pytest.mark.fast


def _rows(n: int, station: str = "CS-1") -> list[tuple]:
    at = utcnow().timestamp()
    return [(station, "in", "CALL", str(i), "Heartbeat", at, 30, f'[2,"{i}","Heartbeat",{{}}]', False)
            for i in range(n)]


def _count(engine) -> int:
    with session_scope(engine) as session:
        return session.exec(select(func.count()).select_from(OcppMessage)).one()


@pytest.fixture
def database(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'chargeca.db'}"
    migrate_for_test(url)
    engine = make_engine(url)
    yield tmp_path, engine
    engine.dispose()


def test_on_sqlite_frames_go_to_a_file_of_their_own_readable_only_by_its_owner(database):
    folder, engine = database
    log = message_log_engine(engine)
    with session_scope(log) as session:
        insert_rows(session, _rows(3))
    assert (folder / "chargeca.messages.db").stat().st_mode & 0o777 == 0o600
    assert _count(log) == 3 and _count(engine) == 0
    assert message_log_engine(engine) is log  # one engine per database


def test_a_log_file_an_earlier_version_wrote_gets_spans_and_batches_instead_of_its_indexes(database):
    folder, engine = database
    old = sqlite3.connect(folder / "chargeca.messages.db", isolation_level=None)
    old.execute("CREATE TABLE ocpp_message (id INTEGER PRIMARY KEY, station_id VARCHAR(48) NOT NULL, "
                "direction VARCHAR(3) NOT NULL, kind VARCHAR(10) NOT NULL, message_id VARCHAR(36), action VARCHAR(64), "
                "at DATETIME NOT NULL, size INTEGER NOT NULL, frame TEXT NOT NULL, truncated BOOLEAN NOT NULL)")
    old.execute("CREATE INDEX ix_ocpp_message_station_id ON ocpp_message (station_id, id)")
    old.execute("CREATE INDEX ix_ocpp_message_at ON ocpp_message (at)")
    old.executemany("INSERT INTO ocpp_message VALUES (?, ?, 'in', 'CALL', ?, 'Heartbeat', "
                    "'2026-12-01 00:00:00.000000', 30, '[]', 0)", [(frame_id, f"CS-{frame_id % 3}", str(frame_id))
                                      for frame_id in (1, 2, 3, 70_000, 70_001, 200_000)])
    old.close()
    log = message_log_engine(engine)
    with session_scope(log) as session:
        indexes = session.connection().exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ocpp_message'").scalars().all()
        assert indexes == []   # spans for the stations, batches for the times
        assert [row.id for row in frames(session, MessageQuery(station_id="CS-2"), newest_first=False, beyond=None,
                                         limit=10)] == [2, 70_001, 200_000]
        assert [row.id for row in frames(session, MessageQuery(station_id="CS-0"), newest_first=True, beyond=None,
                                         limit=10)] == [3]
        kept_at = datetime(2026, 12, 1, tzinfo=timezone.utc)
        that_second = MessageQuery(since=kept_at, until=kept_at + timedelta(seconds=1))
        assert [row.id for row in frames(session, that_second, newest_first=False, beyond=None,
                                         limit=10)] == [1, 2, 3, 70_000, 70_001, 200_000]
        assert frames(session, MessageQuery(since=kept_at + timedelta(seconds=1)), newest_first=False, beyond=None,
                      limit=10) == []


def test_a_log_batch_is_written_while_the_database_write_lock_is_held(database):
    folder, engine = database
    log = message_log_engine(engine)
    holder = sqlite3.connect(folder / "chargeca.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a station's transaction, in the middle of its work
    try:
        done = threading.Event()

        def write() -> None:
            with session_scope(log) as session:
                insert_rows(session, _rows(2000))
            done.set()

        writer = threading.Thread(target=write)
        writer.start()
        # Sharing the database file, the batch would wait for the lock (busy timeout: 30 s).
        assert done.wait(10), "the message log waited for the database's write lock"
        writer.join()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert _count(log) == 2000


def test_frames_an_earlier_version_kept_in_the_database_file_move_to_the_log_file(database):
    _folder, engine = database
    with session_scope(engine) as session:  # as the version before kept them
        insert_rows(session, _rows(5, station="OLD"))
    log = message_log_engine(engine)
    assert _count(engine) == 0
    with session_scope(log) as session:
        moved = session.exec(select(OcppMessage).order_by(OcppMessage.id)).all()
    assert [row.message_id for row in moved] == ["0", "1", "2", "3", "4"] and moved[0].station_id == "OLD"
    with session_scope(log) as session:   # found by time too
        found = frames(session, MessageQuery(since=moved[0].at - timedelta(seconds=1)), newest_first=False,
                       beyond=None, limit=10)
    assert [row.message_id for row in found] == ["0", "1", "2", "3", "4"]


@pytest.mark.postgres
def test_on_postgresql_the_log_is_in_the_database(postgres_url):
    engine = make_engine(postgres_url)
    try:
        assert message_log_engine(engine) is engine
    finally:
        engine.dispose()
