"""The local spool that keeps rows through a database outage: bounded, durable, drained once."""

from __future__ import annotations

import stat

import pytest

from storage.spool import Spool

pytestmark = pytest.mark.fast


def test_entries_survive_a_restart_and_the_bound_holds(tmp_path):
    path = tmp_path / "spool" / "events.jsonl"
    spool = Spool(path, max_entries=2)
    assert spool.add({"n": 1}) and spool.add({"n": 2, "text": "\ufffd é"})
    assert spool.add({"n": 3}) is False  # full: the caller refuses, nothing written
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    reopened = Spool(path, max_entries=2)  # a new process finds what the last one acknowledged
    assert len(reopened) == 2
    written: list[list[dict]] = []
    assert reopened.drain(written.append) == 2
    assert written == [[{"n": 1}, {"n": 2, "text": "\ufffd é"}]] and len(reopened) == 0
    assert reopened.drain(written.append) == 0 and len(written) == 1


def test_a_failed_write_keeps_everything(tmp_path):
    spool = Spool(tmp_path / "events.jsonl", max_entries=10)
    spool.add({"n": 1})

    def database_away(_entries):
        raise ConnectionError("database unavailable")
    with pytest.raises(ConnectionError):
        spool.drain(database_away)
    assert len(spool) == 1 and len(Spool(tmp_path / "events.jsonl", max_entries=10)) == 1


def test_entries_added_while_draining_stay_and_a_torn_last_line_is_skipped(tmp_path):
    path = tmp_path / "events.jsonl"
    spool = Spool(path, max_entries=10)
    spool.add({"n": 1})
    spool.drain(lambda _entries: spool.add({"n": 2}))  # arrives while the first is being written
    assert len(spool) == 1
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"n": 3')  # a crash in the middle of an append: never acknowledged
    reopened = Spool(path, max_entries=10)
    reopened.add({"n": 4})
    written: list[list[dict]] = []
    reopened.drain(written.append)
    assert written == [[{"n": 2}, {"n": 4}]]
