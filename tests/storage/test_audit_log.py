"""The audit log is a hash chain: tampering is detected, concurrent writers keep it linear."""

from __future__ import annotations

import threading

import pytest
from migrated_template import migrate_for_test
from sqlalchemy import text

from storage import audit
from storage.db import make_engine, session_scope

pytestmark = pytest.mark.fast


def _append(engine, n, actor="test"):
    for i in range(n):
        with session_scope(engine) as session:
            audit.append(session, actor=actor, action="thing.do", target=f"t{i}", outcome="success",
                         detail={"i": i})


def test_intact_chain_verifies(engine):
    _append(engine, 5)
    with session_scope(engine) as session:
        report = audit.verify_chain(session)
    assert report.ok and report.entries == 5 and report.head_hash != audit.GENESIS


def _verified_after(engine, tamper: str) -> audit.ChainReport:
    """What verify says once ``tamper`` (SQL written to the table directly) has run."""
    with session_scope(engine) as session:
        session.execute(text(tamper))
    with session_scope(engine) as session:
        return audit.verify_chain(session)


@pytest.mark.parametrize("tamper", [
    "UPDATE audit_entry SET outcome = 'refused' WHERE seq = 3",
    "UPDATE audit_entry SET actor = 'someone-else' WHERE seq = 3",
    "DELETE FROM audit_entry WHERE seq = 3",
])
def test_tampering_is_detected_at_the_entry(engine, tamper):
    _append(engine, 5)
    report = _verified_after(engine, tamper)
    assert not report.ok
    assert report.first_bad_seq in (3, 4)


def test_concurrent_writers_keep_one_linear_chain(engine):
    threads = [threading.Thread(target=_append, args=(engine, 10, f"w{i}")) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with session_scope(engine) as session:
        report = audit.verify_chain(session)
    assert report.ok and report.entries == 40


def test_entry_committed_with_the_action_or_not_at_all(engine):
    with pytest.raises(RuntimeError):
        with session_scope(engine) as session:
            audit.append(session, actor="a", action="x", target="t", outcome="success")
            raise RuntimeError("the action failed after the entry was written")
    with session_scope(engine) as session:
        assert audit.verify_chain(session).entries == 0


@pytest.fixture
def sqlite_engine(tmp_path):
    url = f"sqlite:///{tmp_path / 'chargeca.db'}"
    migrate_for_test(url)
    made = make_engine(url)
    yield made
    made.dispose()


# Written to the table directly, SQLite keeps what no entry holds; verify names the entry instead
# of failing as "database unavailable" (undecodable text) or with a traceback (a time that is no date).
@pytest.mark.parametrize("tamper", [
    "UPDATE audit_entry SET detail = CAST(X'FF22' AS TEXT) WHERE seq = 3",
    "UPDATE audit_entry SET actor = CAST(X'EDA080' AS TEXT) WHERE seq = 3",
    "UPDATE audit_entry SET at = 'yesterday' WHERE seq = 3",
])
def test_an_entry_that_cannot_be_read_is_named(sqlite_engine, tamper):
    _append(sqlite_engine, 5)
    report = _verified_after(sqlite_engine, tamper)
    assert (report.ok, report.first_bad_seq, report.entries) == (False, 3, 3)
    assert "cannot be read" in report.problem
    report = _verified_after(sqlite_engine, "UPDATE audit_entry SET outcome = 'refused' WHERE seq = 1")
    assert (report.first_bad_seq, report.problem) == (1, "entry content does not match its hash"), \
        "the entries before an unreadable one are checked first"


def test_reordered_entries_break_the_link(engine):
    _append(engine, 5)
    with session_scope(engine) as session:
        for change in ("seq = 99 WHERE seq = 2", "seq = 2 WHERE seq = 4", "seq = 4 WHERE seq = 99"):
            session.execute(text(f"UPDATE audit_entry SET {change}"))
    with session_scope(engine) as session:
        report = audit.verify_chain(session)
    assert (report.ok, report.first_bad_seq) == (False, 2) and "link" in report.problem


def test_a_long_chain_is_verified_across_pages(engine, monkeypatch):
    monkeypatch.setattr(audit, "_VERIFY_PAGE", 3)
    _append(engine, 8)
    with session_scope(engine) as session:
        assert audit.verify_chain(session).entries == 8
        session.execute(text("DELETE FROM audit_entry WHERE seq = 7"))
    with session_scope(engine) as session:
        report = audit.verify_chain(session)
    assert (report.ok, report.first_bad_seq, report.entries) == (False, 8, 7)
