"""Batching and group commit (storage/batching.py): callers that arrive together share one run
of the work, each still gets its own answer, and one caller's failure stays its own."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from migrated_template import migrate_for_test
from sqlalchemy import text
from sqlmodel import select

from storage.batching import Batcher, GroupCommit
from storage.db import make_engine, read_scope, session_scope
from storage.stations import Station

pytestmark = pytest.mark.fast


class Recorder:
    """A blocking batch function that records the batches it was given."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = threading.Event()
        self.release.set()

    def __call__(self, items: list[int]) -> list[int | BaseException]:
        self.release.wait(5)
        self.batches.append(list(items))
        return [ValueError(f"odd {item}") if item % 2 else item * 10 for item in items]


async def test_calls_arriving_while_a_batch_runs_share_the_next_one():
    work = Recorder()
    batch = Batcher(work)
    work.release.clear()                       # hold the first batch on its thread
    first = asyncio.ensure_future(batch(0))
    await asyncio.sleep(0.05)
    rest = [asyncio.ensure_future(batch(item)) for item in (2, 4, 6)]
    await asyncio.sleep(0.05)
    work.release.set()
    assert await first == 0
    assert [await call for call in rest] == [20, 40, 60]
    assert work.batches == [[0], [2, 4, 6]]


async def _paced(batch: Batcher, items: range, every: float) -> list[int]:
    calls = []
    for item in items:
        calls.append(asyncio.ensure_future(batch(item * 2)))
        await asyncio.sleep(every)
    return list(await asyncio.gather(*calls))


async def test_under_steady_traffic_a_batch_waits_for_company_and_a_lone_caller_does_not():
    work = Recorder()
    batch = Batcher(work, gather=0.03)
    started = time.monotonic()
    for item in range(5):  # one caller, call after call (a station emptying its queue)
        assert await batch(item * 2) == item * 20
    assert time.monotonic() - started < 0.1 and work.batches == [[0], [2], [4], [6], [8]]

    work.batches.clear()
    assert await asyncio.gather(batch(0), batch(2)) == [0, 20]  # callers together
    # Then a call every 5 ms: each batch waits 30 ms for company and takes several.
    assert await _paced(batch, range(1, 13), 0.005) == [item * 20 for item in range(1, 13)]
    assert len(work.batches) <= 1 + 4 and max(len(b) for b in work.batches[1:]) >= 3

    plain = Recorder()
    await _paced(Batcher(plain), range(12), 0.005)
    assert len(plain.batches) >= 10  # without it, each call is a batch of its own


async def test_calls_that_waited_behind_a_slow_batch_start_as_it_ends_without_gathering_again():
    # The gather counts from the oldest waiting call's arrival: a call that queued behind a batch
    # held up for longer than the gather has waited enough (it had waited the whole batch, then
    # the gather on top of it).
    work = Recorder()
    batch = Batcher(work, gather=0.2)
    assert await asyncio.gather(batch(0), batch(2)) == [0, 20]   # steady traffic from now on
    work.release.clear()                                          # the next batch is held up
    slow = asyncio.gather(batch(4), batch(8))
    await asyncio.sleep(0.25)                                     # its gather is over: on its thread
    behind = asyncio.ensure_future(batch(6))
    await asyncio.sleep(0.3)                                      # waited longer than a gather
    work.release.set()
    released = time.monotonic()
    assert await slow == [40, 80] and await behind == 60
    assert time.monotonic() - released < 0.15, "the call behind gathered once more"
    assert work.batches == [[0, 2], [4, 8], [6]]


async def test_a_call_that_came_during_a_batch_waits_only_the_rest_of_its_gather():
    work = Recorder()
    batch = Batcher(work, gather=0.3)
    assert await asyncio.gather(batch(0), batch(2)) == [0, 20]
    work.release.clear()
    slow = asyncio.gather(batch(4), batch(8))
    await asyncio.sleep(0.35)                                     # on its thread now
    behind = asyncio.ensure_future(batch(6))
    await asyncio.sleep(0.2)
    work.release.set()
    released = time.monotonic()
    assert await slow == [40, 80] and await behind == 60
    waited = time.monotonic() - released
    assert 0.05 < waited < 0.25, f"{waited:.3f} s after the batch ahead: the rest of 0.3 s is ~0.1 s"


async def test_each_caller_gets_its_own_result_or_error():
    batch = Batcher(Recorder())
    results = await asyncio.gather(*(batch(item) for item in range(4)), return_exceptions=True)
    assert results[0] == 0 and results[2] == 20
    assert isinstance(results[1], ValueError) and str(results[3]) == "odd 3"


async def test_a_failing_batch_fails_each_of_its_callers():
    def broken(items: list[int]) -> list[int]:
        raise RuntimeError("database down")

    batch = Batcher(broken)
    results = await asyncio.gather(batch(1), batch(2), return_exceptions=True)
    assert [str(result) for result in results] == ["database down", "database down"]
    with pytest.raises(RuntimeError):
        await batch(3)  # the batcher is still usable afterwards


@pytest.fixture
def engine(tmp_path):
    url = f"sqlite:///{tmp_path / 'batching.db'}"
    migrate_for_test(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


async def test_group_commit_writes_everyone_and_isolates_a_failing_unit(engine):
    group = GroupCommit(engine)
    runs: list[str] = []

    def add(station_id: str):
        def unit(session):
            runs.append(station_id)
            session.add(Station(id=station_id, security_profile=1))
            session.flush()
            return station_id
        return unit

    def broken(session):
        runs.append("broken")
        session.execute(text("INSERT INTO no_such_table VALUES (1)"))

    results = await asyncio.gather(group(add("CP_1")), group(broken), group(add("CP_2")), group(add("CP_3")),
                                   return_exceptions=True)
    assert results[0] == "CP_1" and results[2:] == ["CP_2", "CP_3"]
    assert "no_such_table" in str(results[1])
    with session_scope(engine) as session:
        assert sorted(session.exec(select(Station.id))) == ["CP_1", "CP_2", "CP_3"]
    # All four arrived together: one group, which failed at "broken" and was rolled back whole;
    # then each unit ran alone. CP_1 ran twice but was written once (the rows above).
    assert runs == ["CP_1", "broken", "CP_1", "broken", "CP_2", "CP_3"]


def test_a_read_scope_neither_takes_nor_waits_for_the_write_lock(engine):
    with session_scope(engine) as writer:
        writer.add(Station(id="CP_W", security_profile=1))
        writer.flush()  # this transaction now holds SQLite's write lock
        # A session_scope here would queue behind the writer (BEGIN IMMEDIATE) until its busy
        # timeout and fail; a read_scope reads the last committed state at once.
        with read_scope(engine) as reader:
            assert list(reader.exec(select(Station.id))) == []
    with read_scope(engine) as reader:
        assert list(reader.exec(select(Station.id))) == ["CP_W"]


class Overlapping:
    """A batch function that takes a while (a batch's round trips to the database) and records
    the most batches that ran at once and each batch's size."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.most = 0
        self._running = 0
        self._lock = threading.Lock()

    def __call__(self, items: list[int]) -> list[int]:
        with self._lock:
            self._running += 1
            self.most = max(self.most, self._running)
            self.sizes.append(len(items))
        time.sleep(0.2)
        with self._lock:
            self._running -= 1
        return items


@pytest.mark.parametrize("concurrency, overlapped", [(1, False), (2, True)])
async def test_a_second_batch_runs_beside_a_busy_one_only_when_allowed(concurrency, overlapped):
    work = Overlapping()
    batch = Batcher(work, concurrency=concurrency)
    first = asyncio.ensure_future(batch(1))
    await asyncio.sleep(0.05)  # the first batch is on its thread now
    assert await asyncio.gather(first, batch(2), batch(3)) == [1, 2, 3]
    assert (work.most == 2) is overlapped


@pytest.mark.parametrize("waiting, overlapped", [(3, False), (4, True)])
async def test_a_second_batch_starts_only_once_enough_calls_wait_behind_the_busy_one(waiting, overlapped):
    # On PostgreSQL every concurrent batch took its calls from the others: at a thousand
    # TransactionEvents a second, four runners left batches of one or two, each paying a session,
    # a read and a commit (~60 % more server CPU a TransactionEvent than batches of several).
    work = Overlapping()
    batch = Batcher(work, concurrency=2, spill=4)
    first = asyncio.ensure_future(batch(0))
    await asyncio.sleep(0.05)  # the first batch is on its thread now
    behind = [batch(n) for n in range(1, waiting + 1)]
    assert await asyncio.gather(first, *behind) == list(range(waiting + 1))
    assert (work.most == 2) is overlapped
    assert work.sizes == ([1, 4] if overlapped else [1, 3])


async def test_a_runner_that_finds_its_calls_taken_while_it_gathered_runs_no_empty_batch():
    # Two runners may gather at once (the second started for the calls behind the first); the
    # first to wake takes them all. The other then has nothing to run: on PostgreSQL it had
    # handed its thread an empty group, ~770 times in one benchmark run.
    work = Recorder()
    batch = Batcher(work, concurrency=2, spill=2, gather=0.05)
    assert await asyncio.gather(batch(0), batch(2)) == [0, 20]   # steady traffic: the next batch gathers
    assert await asyncio.gather(batch(4), batch(6)) == [40, 60]  # the second call starts a second runner
    await asyncio.sleep(0.1)
    assert sorted(item for items in work.batches for item in items) == [0, 2, 4, 6]
    assert [] not in work.batches, work.batches
