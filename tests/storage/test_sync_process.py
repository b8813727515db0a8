"""SyncProcess (storage/sync_process.py): syncs made by a helper process, the held entries
written by the loop before each; a failed fdatasync reaches its waiters by name; a helper that
ends, or never starts, leaves the syncs to a thread, the unanswered one included; an interrupt
sent to the whole process group leaves the helper serving; a close ends it."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import signal
import sys

import pytest
from durable_writes import DurableWritesInHelper

from storage import sync_process
from storage.journal import Journal
from storage.shared_sync import SharedSync
from storage.sync_process import SyncProcess

pytestmark = pytest.mark.fast


def _journal(tmp_path) -> Journal:
    journal, _ = Journal.open(tmp_path / "journal" / "writes.jsonl", 1000, stored_through=0, written_at_sync=True)
    return journal


def _syncs(journal: Journal) -> tuple[SyncProcess, SharedSync]:
    runner = SyncProcess(journal.fileno(), write=journal.write_held, fallback=journal.sync)
    return runner, SharedSync(runner, gather=0.0).start()


async def _append_and_wait(journal: Journal, syncer: SharedSync, body: str) -> None:
    journal.append(json.dumps(body))
    await asyncio.wait_for(syncer(), 5)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_each_waiter_returns_once_the_helper_synced_the_entries_written_before_it(tmp_path, monkeypatch):
    durable = DurableWritesInHelper(monkeypatch, tmp_path / "synced.jsonl")
    journal = _journal(tmp_path)
    runner, syncer = _syncs(journal)
    try:
        assert runner.pid is not None and runner.pid != os.getpid()

        async def write(n: int) -> list[str]:
            await _append_and_wait(journal, syncer, f"CP_{n}")
            return durable.synced[-1]

        seen = await asyncio.gather(*(write(n) for n in range(20)))
    finally:
        await syncer.aclose()
        journal.close()
    for n, synced in enumerate(seen):
        assert f'"CP_{n}"' in [line.split(" ")[1] for line in synced]
    assert 1 < len(durable.synced) < 20 and syncer.syncs == len(durable.synced)   # shared


async def test_a_failed_fdatasync_reaches_its_waiters_by_name(tmp_path):
    read_end, write_end = os.pipe()   # a pipe cannot be synced: EINVAL
    syncer = SharedSync(SyncProcess(write_end, write=lambda: None, fallback=lambda: None), gather=0.0).start()
    try:
        outcomes = await asyncio.gather(*(syncer() for _ in range(3)), return_exceptions=True)
    finally:
        await syncer.aclose()
        os.close(read_end)
        os.close(write_end)
    assert all(isinstance(outcome, OSError) and outcome.errno == errno.EINVAL for outcome in outcomes), outcomes
    assert "Invalid argument" in str(outcomes[0])


async def test_a_helper_killed_with_a_sync_asked_for_leaves_it_and_the_next_to_a_thread(tmp_path, caplog):
    journal = _journal(tmp_path)
    runner, syncer = _syncs(journal)
    try:
        pid = runner.pid
        await _append_and_wait(journal, syncer, "CP_1")
        os.kill(pid, signal.SIGSTOP)                     # the next request waits in the pipe, unread
        asked = asyncio.create_task(_append_and_wait(journal, syncer, "CP_2"))
        await asyncio.sleep(0.05)
        assert not asked.done()
        with caplog.at_level(logging.ERROR, logger="chargeca.storage.sync_process"):
            os.kill(pid, signal.SIGKILL)
            await asyncio.wait_for(asked, 5)             # answered by the thread that took over
        assert f"helper (pid {pid}) ended" in caplog.text and runner.pid is None
        await _append_and_wait(journal, syncer, "CP_3")
    finally:
        await syncer.aclose()
        journal.close()
    entries = (tmp_path / "journal" / "writes.jsonl").read_bytes().split(b"\0")[0].decode().splitlines()
    assert [line.split(" ")[1] for line in entries] == ['"CP_1"', '"CP_2"', '"CP_3"']


async def test_a_helper_that_cannot_start_leaves_the_syncs_to_a_thread(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    journal = _journal(tmp_path)
    with caplog.at_level(logging.ERROR, logger="chargeca.storage.sync_process"):
        runner, syncer = _syncs(journal)
    try:
        assert "helper did not start" in caplog.text and runner.pid is None
        await _append_and_wait(journal, syncer, "CP_1")
    finally:
        await syncer.aclose()
        journal.close()
    assert b'"CP_1"' in (tmp_path / "journal" / "writes.jsonl").read_bytes()


async def test_an_interrupt_to_the_process_group_leaves_the_helper_serving_and_a_close_ends_it(tmp_path):
    journal = _journal(tmp_path)
    runner, syncer = _syncs(journal)
    pid = runner.pid
    try:
        await _append_and_wait(journal, syncer, "CP_1")   # started: its signals are set
        os.kill(pid, signal.SIGINT)
        os.kill(pid, signal.SIGTERM)
        await _append_and_wait(journal, syncer, "CP_2")
        assert runner.pid == pid and _alive(pid)
    finally:
        await syncer.aclose()
        journal.close()
    assert not _alive(pid)


async def test_a_close_kills_a_helper_that_no_longer_answers(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(sync_process, "CLOSE_WAIT", 0.2)
    journal = _journal(tmp_path)
    runner, syncer = _syncs(journal)
    pid = runner.pid
    await _append_and_wait(journal, syncer, "CP_1")
    os.kill(pid, signal.SIGSTOP)   # no longer reads its requests nor ends on their end
    hung = asyncio.create_task(_append_and_wait(journal, syncer, "CP_2"))
    await asyncio.sleep(0.05)
    with caplog.at_level(logging.ERROR, logger="chargeca.storage.shared_sync"):
        await asyncio.wait_for(syncer.aclose(wait=0.2), 5)
    journal.close()
    assert "still unanswered" in caplog.text and not _alive(pid)
    hung.cancel()
    # What was written and never answered is in the journal for the next start.
    assert b'"CP_2"' in (tmp_path / "journal" / "writes.jsonl").read_bytes()
