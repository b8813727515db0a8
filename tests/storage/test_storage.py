"""Schema migrations and constraints on real SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from storage.certificates import IssuedCertificate
from storage.db import (
    WAL_AUTOCHECKPOINT_PAGES,
    DatabaseUnavailable,
    alembic_config,
    head_revision,
    make_engine,
    migrate,
    session_scope,
)
from storage.models import metadata
from storage.types import utcnow

pytestmark = pytest.mark.fast


def test_migrations_match_the_models(db_url):
    """A model change without a migration fails here, not in production."""
    migrate(db_url)
    migrate(db_url)  # idempotent: every start runs it
    engine = make_engine(db_url)
    with engine.connect() as connection:
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
