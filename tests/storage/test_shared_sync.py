"""SharedSync (storage/shared_sync.py) over a thread's syncs (storage/sync_thread.py): a waiter
returns only after a sync that began after it called; the waiters of the moment share syncs; a
sync's failure reaches each of its waiters and not the next sync's; one waiter cancelled leaves
the others their answer; a closed one refuses; each sync is reported as the loop saw it. The helper process's syncs:
tests/storage/test_sync_process.py."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from storage import sync_thread
from storage.shared_sync import SharedSync, SyncEnded
from storage.sync_thread import SyncThread

pytestmark = pytest.mark.fast


class Disk:
    """A sync that takes ``seconds`` and keeps when each began and ended; fails while ``failing``."""

    def __init__(self, seconds: float = 0.005) -> None:
        self.seconds = seconds
        self.syncs: list[tuple[float, float]] = []
        self.failing = False
        self.threads: set[str] = set()

    def sync(self) -> None:
        began = time.monotonic()
        self.threads.add(threading.current_thread().name)
        time.sleep(self.seconds)
        if self.failing:
            raise OSError(5, "Input/output error")
        self.syncs.append((began, time.monotonic()))


async def _waiter(syncer: SharedSync) -> tuple[float, float]:
    called = time.monotonic()
    await syncer()
    return called, time.monotonic()


async def _a_sync_running(syncer: SharedSync) -> asyncio.Task:
    """A waiter whose sync has begun: whoever calls next waits for the sync after it."""
    running = asyncio.create_task(syncer())
    await asyncio.sleep(0.01)
    return running


async def test_each_waiter_returns_after_a_sync_that_began_after_its_call_and_waiters_share_syncs():
    disk = Disk()
    syncer = SharedSync(SyncThread(disk.sync), gather=0.002).start()
    try:
        calls = []
        for _ in range(20):
            calls += [asyncio.create_task(_waiter(syncer)) for _ in range(10)]
            await asyncio.sleep(0.001)
        waited = await asyncio.gather(*calls)
    finally:
        await syncer.aclose()
    for called, returned in waited:
        assert any(called <= began and ended <= returned for began, ended in disk.syncs), (called, returned)
    # 200 waiters over ~20 ms of 5 ms syncs: a handful of syncs, not one each.
    assert len(disk.syncs) <= 20
    assert disk.threads == {"journal-sync"}


async def test_a_failed_sync_reaches_each_of_its_waiters_and_the_next_sync_serves_again():
    disk = Disk()
    syncer = SharedSync(SyncThread(disk.sync), gather=0.0).start()
    try:
        disk.failing = True
        outcomes = await asyncio.gather(*(syncer() for _ in range(5)), return_exceptions=True)
        assert all(isinstance(outcome, OSError) and outcome.errno == 5 for outcome in outcomes)
        disk.failing = False
        await asyncio.wait_for(syncer(), 5)
        assert len(disk.syncs) == 1
    finally:
        await syncer.aclose()


async def test_each_sync_is_reported_with_what_it_took_and_how_long_each_of_its_waiters_waited():
    disk = Disk(seconds=0.03)
    reports: list[SyncEnded] = []
    syncer = SharedSync(SyncThread(disk.sync), gather=0.0, on_sync=reports.append).start()
    try:
        running = await _a_sync_running(syncer)
        called = time.monotonic()
        await asyncio.gather(running, *(syncer() for _ in range(3)))
        disk.failing = True
        with pytest.raises(OSError):
            await syncer()
    finally:
        await syncer.aclose()
    assert [(report.waiters, report.failed) for report in reports] == [(1, False), (3, False), (1, True)]
    first, second = reports[0], reports[1]
    assert first.waited[0] >= first.took >= 0.03
    # The three came while the first sync ran: each waited for the rest of it, then for its own.
    for waited in second.waited:
        assert 0.03 <= second.took < waited
        assert waited >= 0.03 + (disk.syncs[0][1] - called) - 0.001
    assert list(second.waited) == sorted(second.waited, reverse=True)   # first come, first listed


async def test_a_cancelled_waiter_leaves_the_others_their_answer():
    disk = Disk(seconds=0.05)
    syncer = SharedSync(SyncThread(disk.sync), gather=0.0).start()
    try:
        running = await _a_sync_running(syncer)
        first, second = asyncio.create_task(syncer()), asyncio.create_task(syncer())
        await asyncio.sleep(0.01)
        first.cancel()
        await asyncio.wait_for(asyncio.gather(running, second), 5)
        assert first.cancelled() and len(disk.syncs) == 2
    finally:
        await syncer.aclose()


async def test_a_closed_syncer_ends_the_syncs_asked_for_and_refuses_more():
    disk = Disk(seconds=0.02)
    syncer = SharedSync(SyncThread(disk.sync), gather=0.0).start()
    asked = asyncio.create_task(syncer())
    await asyncio.sleep(0.005)
    await syncer.aclose()
    await asyncio.wait_for(asked, 5)
    assert len(disk.syncs) == 1
    with pytest.raises(RuntimeError, match="not running"):
        await syncer()


async def test_a_close_while_a_sync_waits_for_company_syncs_its_waiters_at_once():
    disk = Disk(seconds=0.05)
    syncer = SharedSync(SyncThread(disk.sync), gather=30.0).start()
    try:
        first = await _a_sync_running(syncer)
        await asyncio.gather(first, syncer(), syncer())
        assert len(disk.syncs) == 2
        late = asyncio.create_task(syncer())       # steady traffic: it waits for company, 30 s
        await asyncio.sleep(0.05)
        assert not late.done() and len(disk.syncs) == 2
    finally:
        await asyncio.wait_for(syncer.aclose(), 5)   # the close does not wait out the 30 s
    await asyncio.wait_for(late, 5)
    assert len(disk.syncs) == 3


async def test_a_close_does_not_wait_past_its_bound_for_a_sync_that_hangs(monkeypatch, caplog):
    monkeypatch.setattr(sync_thread, "CLOSE_WAIT", 0.2)   # the thread's own stop, bounded the same way
    disk = Disk(seconds=5.0)   # a disk that stopped answering, as far as the close can tell
    syncer = SharedSync(SyncThread(disk.sync), gather=0.0).start()
    hung = asyncio.create_task(syncer())
    await asyncio.sleep(0.05)
    began = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="chargeca.storage.shared_sync"):
        await syncer.aclose(wait=0.2)
    assert "a sync still unanswered after 0.2 s" in caplog.text
    assert time.monotonic() - began < 2 and not hung.done()
    hung.cancel()
