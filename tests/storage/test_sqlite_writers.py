"""This process's SQLite writers take turns on our lock (storage/sqlite_writers.py): the next one
starts when the last one's transaction ends, however it ends, and a writer that waits too long is
refused by name."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

import storage.db as db
from storage.sqlite_writers import WriterQueuedConnection


def _engine(path: Path, wait: float = 30.0, *tables: str):
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": wait,
                                                             "factory": WriterQueuedConnection})
    db._configure_sqlite(engine)
    with engine.begin() as connection:
        for table in ("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)", *tables):
            connection.execute(text(table))
    return engine


def _values(engine) -> list[str]:
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(text("SELECT v FROM t ORDER BY id"))]


def _write(engine, value: str) -> None:
    with db.session_scope(engine) as session:
        session.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": value})


def _the_next_writer_gets_through(engine) -> None:
    """Its row and nothing of the ended transaction's."""
    _write(engine, "next")
    assert _values(engine) == ["next"]


def test_a_second_writer_starts_when_the_first_commits(tmp_path):
    engine = _engine(tmp_path / "db.sqlite")
    with ThreadPoolExecutor(1) as pool, engine.begin() as first:
        first.execute(text("INSERT INTO t (v) VALUES ('first')"))
        second = pool.submit(_write, engine, "second")
        with pytest.raises(TimeoutError):
            second.result(timeout=0.3)           # waiting: the first holds the write lock
        first.commit()
        second.result(timeout=5)
    assert _values(engine) == ["first", "second"]


@pytest.mark.parametrize("ending", ["rollback", "error", "close"])
def test_the_turn_passes_however_the_transaction_ends(tmp_path, ending):
    # A short wait: a turn never given back would refuse the next writer instead of hanging.
    engine = _engine(tmp_path / "db.sqlite", wait=2.0)
    connection = engine.connect()
    transaction = connection.begin()
    connection.execute(text("INSERT INTO t (v) VALUES ('undone')"))
    if ending == "rollback":
        transaction.rollback()
    elif ending == "close":
        connection.connection.dbapi_connection.close()   # the driver's connection gone mid-transaction
        connection.invalidate()
    else:
        with pytest.raises(sqlite3.OperationalError):
            connection.connection.dbapi_connection.execute("INSERT INTO missing VALUES (1)")
        transaction.rollback()
    connection.close()
    _the_next_writer_gets_through(engine)


def test_a_failed_commit_keeps_the_turn_until_its_rollback(tmp_path):
    engine = _engine(tmp_path / "db.sqlite", 0.3, "CREATE TABLE parent (id INTEGER PRIMARY KEY)",
                     "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER "
                     "REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)")
    raw = engine.raw_connection()
    driver = raw.dbapi_connection
    driver.begin_writing()
    driver.execute("INSERT INTO child (parent_id) VALUES (42)")
    with pytest.raises(sqlite3.IntegrityError):
        driver.commit()                          # the deferred key fails at COMMIT: still in the transaction
    assert driver.in_transaction
    with pytest.raises(db.DatabaseUnavailable, match="another writer of this process"):
        _write(engine, "meanwhile")
    driver.rollback()
    raw.close()
    _the_next_writer_gets_through(engine)


def test_a_writer_that_waits_too_long_is_refused_by_name(tmp_path):
    engine = _engine(tmp_path / "db.sqlite", wait=0.3)
    with engine.begin() as holder:
        holder.execute(text("INSERT INTO t (v) VALUES ('held')"))
        with ThreadPoolExecutor(1) as pool:
            refused = pool.submit(_write, engine, "late").exception(timeout=5)
    assert isinstance(refused, db.DatabaseUnavailable)
    assert "another writer of this process held it for 0.3 s" in str(refused)
    assert _values(engine) == ["held"]


def test_engines_on_one_file_share_the_turn_and_readers_never_wait(tmp_path):
    (tmp_path / "sub").mkdir()
    first = _engine(tmp_path / "db.sqlite")
    second = _engine(tmp_path / "sub" / ".." / "db.sqlite", wait=0.3)   # the same file, spelled otherwise
    with first.begin() as holder:
        holder.execute(text("INSERT INTO t (v) VALUES ('held')"))
        with pytest.raises(db.DatabaseUnavailable, match="another writer of this process"):
            _write(second, "other")
        with db.read_scope(second) as session:   # a reader takes no turn
            assert session.execute(text("SELECT count(*) FROM t")).scalar() == 0


def test_every_writer_of_a_burst_gets_its_turn(tmp_path):
    engine = _engine(tmp_path / "db.sqlite")
    start = threading.Barrier(8)

    def writer(n: int) -> None:
        start.wait()
        for i in range(5):
            _write(engine, f"{n}-{i}")

    with ThreadPoolExecutor(8) as pool:
        for done in [pool.submit(writer, n) for n in range(8)]:
            done.result(timeout=30)
    assert sorted(_values(engine)) == sorted(f"{n}-{i}" for n in range(8) for i in range(5))


def test_in_memory_databases_take_no_turn():
    engine = create_engine("sqlite://", connect_args={"check_same_thread": False,
                                                      "factory": WriterQueuedConnection})
    db._configure_sqlite(engine)
    with engine.begin() as connection:
        assert connection.connection.dbapi_connection._writers is None
        connection.execute(text("CREATE TABLE t (v TEXT)"))
