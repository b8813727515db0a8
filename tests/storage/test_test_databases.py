"""The databases tests run on show each test what a freshly migrated copy shows, however they
are made (tests/support/migrated_template.py, tests/support/pg_databases.py): a test that found
another's rows, ids or schema changes would pass or fail for reasons of its own."""

from __future__ import annotations

import pytest
from conftest import require_postgres
from migrated_template import migrate_for_test
from pg_databases import DatabasePool, url_of
from sqlalchemy import text

from storage.db import head_revision, make_engine, session_scope
from storage.security_events import SecurityEvent
from storage.types import utcnow

pytestmark = pytest.mark.fast


def _add_event(url: str, tag: str) -> int:
    """A row, and the id its table's sequence gave it."""
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            event = SecurityEvent(source="csms", type="Test", occurred_at=utcnow(), received_at=utcnow(), tech_info=tag)
            session.add(event)
            session.flush()
            return event.id
    finally:
        engine.dispose()


def _events(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text("SELECT tech_info FROM security_event")).scalars())
    finally:
        engine.dispose()


def test_a_new_sqlite_file_is_at_the_head_revision_and_empty(tmp_path):
    url = f"sqlite:///{tmp_path / 'one.db'}"
    migrate_for_test(url)
    first_id = _add_event(url, "first")
    other = f"sqlite:///{tmp_path / 'other.db'}"
    migrate_for_test(other)
    assert _events(other) == [] and _add_event(other, "second") == first_id
    engine = make_engine(other)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
    engine.dispose()


@pytest.mark.postgres
def test_a_postgres_database_given_back_comes_back_empty_or_not_at_all():
    require_postgres()
    pool = DatabasePool()
    try:
        name = pool.take()
        first_id = _add_event(url_of(name), "first")
        forgotten = make_engine(url_of(name))
        held = forgotten.connect()   # a connection the test left open: cut
        pool.give_back(name)
        again = pool.take()
        assert again == name, "emptied and reused, though a connection to it was still open"
        assert _events(url_of(again)) == [] and _add_event(url_of(again), "second") == first_id
        held.close()
        forgotten.dispose()
        engine = make_engine(url_of(again))
        with engine.begin() as connection:   # a test that changed the schema
            connection.execute(text("ALTER TABLE security_event ADD COLUMN surprise integer"))
        engine.dispose()
        pool.give_back(again)
        fresh = pool.take()
        assert fresh != again, "a changed schema is dropped, not reused"
        pool.give_back(fresh)
    finally:
        pool.close()
