"""Schema migrations and constraints on real SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
import warnings

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from conftest import PG_URL
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError

from policies.refusal import Refusal
from storage import db as storage_db
from storage.certificates import IssuedCertificate
from storage.db import (
    WAL_AUTOCHECKPOINT_PAGES,
    DatabaseUnavailable,
    UnstorableValue,
    alembic_config,
    head_revision,
    make_engine,
    migrate,
    read_connection,
    read_scope,
    session_scope,
    write_connection,
)
from storage.models import metadata
from storage.types import utcnow

pytestmark = pytest.mark.fast


def test_migrations_match_the_models(db_url):
    """A model change without a migration fails here, not in production."""
    migrate(db_url)
    migrate(db_url)  # idempotent: every start runs it
    engine = make_engine(db_url)
    with engine.connect() as connection, warnings.catch_warnings():
        # SQLAlchemy reflects no expression index on SQLite (it says so in a warning); the
        # PostgreSQL run compares ix_station_id_lower (lower(id)) too.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index "
                                          "ix_station_id_lower")
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index "
                                          "'ix_station_id_lower'")
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert diff == []


def test_migrate_runs_alembic_until_the_newest_revision_and_not_after(tmp_path, monkeypatch):
    """Every start and every test context runs ``migrate``: at the newest revision it must not
    load alembic's environment and every revision script (seconds a process)."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrades = []
    real_upgrade = command.upgrade
    monkeypatch.setattr(command, "upgrade", lambda *args: upgrades.append(args) or real_upgrade(*args))
    migrate(url)
    assert len(upgrades) == 1
    engine = make_engine(url)
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == \
            ScriptDirectory.from_config(alembic_config(url)).get_current_head() == head_revision()
    engine.dispose()
    migrate(url)
    assert len(upgrades) == 1


def _copy(record: IssuedCertificate, **changes) -> IssuedCertificate:
    fields = {name: getattr(record, name) for name in IssuedCertificate.model_fields if name != "id"}
    return IssuedCertificate(**{**fields, **changes})


def test_serial_is_unique_per_issuer(pki):
    """The database, not luck, guarantees no issuer ever uses a serial twice."""
    with session_scope(pki.ctx.engine) as session:
        existing = session.get(IssuedCertificate, 1)
        same_issuer = _copy(existing)
        other_issuer = _copy(existing, issuer_id=pki.hierarchy.station_ca.id)
        session.add(same_issuer)
        with pytest.raises(IntegrityError, match="(?i)unique|uq_issued_certificate_serial"):
            session.flush()
        session.rollback()
    with session_scope(pki.ctx.engine) as session:
        # The same serial under another issuer is allowed by X.509 and by us.
        session.add(other_issuer)


def test_unreachable_database_is_a_clear_error():
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(DatabaseUnavailable):
        with session_scope(engine) as session:
            session.get(IssuedCertificate, 1)
    # The ORM-less doors say the same.
    for door in (read_connection, write_connection):
        with pytest.raises(DatabaseUnavailable, match="127.0.0.1"):
            with door(engine) as connection:
                connection.exec_driver_sql("SELECT 1")


def test_the_sqlite_wal_is_copied_back_in_small_pieces(tmp_path):
    """A checkpoint runs on the commit that takes the WAL past WAL_AUTOCHECKPOINT_PAGES, while
    the writers behind it wait: the WAL, and so each checkpoint's work, stays that small."""
    database = tmp_path / "small-wal.sqlite"
    engine = make_engine(f"sqlite:///{database}")
    with session_scope(engine) as session:
        session.connection().exec_driver_sql("CREATE TABLE blobs (data BLOB)")
    # ~1,800 pages in 600 commits: past SQLite's own threshold of 1,000.
    for _ in range(600):
        with session_scope(engine) as session:
            session.connection().exec_driver_sql("INSERT INTO blobs VALUES (randomblob(8000))")
    with engine.connect() as connection:
        page_size = connection.exec_driver_sql("PRAGMA page_size").scalar_one()
    frame = page_size + 24   # each WAL frame: a page and its header
    assert (database.parent / (database.name + "-wal")).stat().st_size <= 32 + (WAL_AUTOCHECKPOINT_PAGES + 10) * frame


def test_a_sqlite_writer_that_cannot_get_the_write_lock_is_told_so(tmp_path):
    database = tmp_path / "locked.sqlite"
    engine = make_engine(f"sqlite:///{database}")
    with session_scope(engine) as session:
        session.connection().exec_driver_sql("CREATE TABLE rows (value INTEGER)")

    @event.listens_for(engine, "connect")
    def _impatient(dbapi_connection, _record):  # after the engine's own: a 50 ms wait, not 30 s
        dbapi_connection.execute("PRAGMA busy_timeout=50")

    engine.dispose()
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DatabaseUnavailable, match="database is locked"):
            with session_scope(engine) as session:
                session.connection().exec_driver_sql("INSERT INTO rows VALUES (1)")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with session_scope(engine) as session:  # and once the lock is free, the same engine writes
        session.connection().exec_driver_sql("INSERT INTO rows VALUES (2)")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT value FROM rows").scalars().all() == [2]


def _backend_pid(engine) -> int:
    """The server process of the connection a unit of work gets from ``engine``'s pool."""
    with session_scope(engine) as session:
        return session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def _terminate(pid: int) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest.mark.postgres
def test_a_value_the_database_refuses_is_a_refusal_that_does_not_repeat_it(engine):
    """The net under the doors' own checks (storage/db.py UnstorableValue): a value a column
    cannot take (here 250 characters in a VARCHAR(10), which PostgreSQL refuses and SQLite
    stores) is a Refusal with rule storage.value, rolled back, its message free of the value (it
    may be a password); a NUL character, refused by PostgreSQL's driver, is named."""
    with write_connection(engine) as connection:
        connection.exec_driver_sql("CREATE TABLE probe_text (v VARCHAR(10))")
    insert = text("INSERT INTO probe_text (v) VALUES (:v)")
    secret = "s3cret-" + "x" * 243
    if engine.dialect.name == "sqlite":
        with session_scope(engine) as session:
            session.execute(insert, {"v": secret})
        return
    with pytest.raises(UnstorableValue) as refused, session_scope(engine) as session:
        session.execute(insert, {"v": "kept?"})
        session.execute(insert, {"v": secret})
    assert isinstance(refused.value, Refusal) and refused.value.rule == "storage.value"
    assert "s3cret" not in str(refused.value) and "22001" in str(refused.value)
    with pytest.raises(UnstorableValue, match="NUL"), session_scope(engine) as session:
        session.execute(insert, {"v": "a\x00b"})
    with read_connection(engine) as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM probe_text").scalar() == 0


def test_a_pooled_connection_that_died_while_idle_is_replaced_unseen(postgres_url, monkeypatch):
    """A connection idle past PING_AFTER_IDLE_SECONDS is pinged before use: one the server closed
    meanwhile (a restart, a failover, a proxy's idle timeout) is replaced and the work runs."""
    engine = make_engine(postgres_url)
    pid = _backend_pid(engine)
    _terminate(pid)
    monkeypatch.setattr(storage_db, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert _backend_pid(engine) != pid
    engine.dispose()


@pytest.mark.postgres
def test_a_connection_that_died_in_use_fails_one_unit_of_work_and_the_pool_recovers(postgres_url, monkeypatch):
    """A connection that served a moment ago is not pinged (a round trip on every unit of work):
    if it died meanwhile, that unit fails with DatabaseUnavailable, and the next gets a new one."""
    monkeypatch.setattr(storage_db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    engine = make_engine(postgres_url)
    pid = _backend_pid(engine)
    _terminate(pid)
    with pytest.raises(DatabaseUnavailable):
        _backend_pid(engine)
    assert _backend_pid(engine) != pid
    engine.dispose()


@pytest.mark.postgres
def test_a_postgresql_read_scope_holds_no_transaction(postgres_url):
    """Each statement of a read_scope runs on its own (no BEGIN, no COMMIT round trips): now()
    moves between two of them, where inside a transaction it stands still."""
    engine = make_engine(postgres_url)

    def two_clocks(scope) -> tuple:
        with scope(engine) as session:
            first = session.connection().exec_driver_sql("SELECT now()").scalar_one()
            time.sleep(0.01)
            return first, session.connection().exec_driver_sql("SELECT now()").scalar_one()

    first, second = two_clocks(read_scope)
    assert second > first
    first, second = two_clocks(session_scope)
    assert second == first
    with read_connection(engine) as connection:   # the ORM-less door reads the same way
        first = connection.exec_driver_sql("SELECT now()").scalar_one()
        time.sleep(0.01)
        assert connection.exec_driver_sql("SELECT now()").scalar_one() > first
    engine.dispose()


def test_timestamps_come_back_timezone_aware(db_url):
    from storage.stations import Station

    migrate(db_url)
    engine = make_engine(db_url)
    now = utcnow()
    with session_scope(engine) as session:
        session.add(Station(id="CP1", created_at=now, updated_at=now))
    with session_scope(engine) as session:
        assert session.get(Station, "CP1").created_at == now
    engine.dispose()
