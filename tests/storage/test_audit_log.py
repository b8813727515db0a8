"""The audit log is a hash chain: tampering is detected, concurrent writers keep it linear."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from storage import audit
from storage.db import session_scope

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


@pytest.mark.parametrize("tamper", [
    "UPDATE audit_entry SET outcome = 'refused' WHERE seq = 3",
    "UPDATE audit_entry SET actor = 'someone-else' WHERE seq = 3",
    "DELETE FROM audit_entry WHERE seq = 3",
])
def test_tampering_is_detected_at_the_entry(engine, tamper):
    _append(engine, 5)
    with session_scope(engine) as session:
        session.execute(text(tamper))
    with session_scope(engine) as session:
        report = audit.verify_chain(session)
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
