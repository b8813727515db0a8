"""Work cut into slices with a handover between them (storage/gil_slices.py), and the message
log's writer using it: a batch of many slices is turned into rows and stored whole, in order,
with the thread stepping aside between slices (the gateway's event loop runs then)."""

from __future__ import annotations

import time

import pytest
from sqlmodel import select

from api.ocpp.message_log.recorder import MessageLog
from policies.model import MessageLogPolicy
from storage import gil_slices
from storage.db import session_scope
from storage.gil_slices import SLICE, in_slices
from storage.message_log import OcppMessage, insert_rows

pytestmark = pytest.mark.fast


@pytest.fixture
def handovers(monkeypatch) -> list[float]:
    """The sleeps in_slices makes, recorded (and made)."""
    made: list[float] = []
    sleep = time.sleep

    def recorded(seconds: float) -> None:
        made.append(seconds)
        sleep(seconds)

    monkeypatch.setattr(gil_slices.time, "sleep", recorded)
    return made


def test_every_item_comes_once_in_order_with_a_handover_between_slices_and_none_after_the_last(handovers):
    items = list(range(10))
    assert [list(part) for part in in_slices(items, 4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(handovers) == 2 and min(handovers) >= gil_slices.HANDOVER_SECONDS
    handovers.clear()
    assert [list(part) for part in in_slices(items, 10)] == [items]
    assert [list(part) for part in in_slices([], 10)] == []
    assert handovers == []  # one slice or none: nothing to hand over between


def _busy(seconds: float) -> None:
    """This thread's CPU for ``seconds`` (thread time, as in_slices counts it)."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


def test_long_slices_are_spread_so_that_the_thread_keeps_within_its_share_of_the_core(handovers):
    # The message log's writer beside a busy gateway: its batch is spread over time instead of
    # taking the core for as long as it lasts.
    started, cpu_started = time.perf_counter(), time.thread_time()
    for _ in in_slices(list(range(5)), 1, duty=0.25):
        _busy(0.004)
    wall, cpu = time.perf_counter() - started, time.thread_time() - cpu_started
    assert len(handovers) == 4 and min(handovers) >= 3 * 0.004   # 4 ms of work, then 12 ms aside
    assert cpu / wall < 0.3
    handovers.clear()
    for _ in in_slices(list(range(3)), 1, duty=1):   # the whole core: only the handover
        _busy(0.002)
    assert handovers == [gil_slices.HANDOVER_SECONDS] * 2


def test_a_slice_size_below_one_or_a_duty_outside_zero_to_one_is_refused_by_name():
    with pytest.raises(ValueError, match="slice size must be at least 1, not 0"):
        list(in_slices([1], 0))
    for duty in (0, -0.5, 1.5):
        with pytest.raises(ValueError, match=f"duty must be above 0 and at most 1, not {duty}"):
            list(in_slices([1], 1, duty=duty))


def _frame(n: int) -> tuple:
    return (f"CS-{n % 7}", "in", "CALL", f"m{n}", "Heartbeat", 1_764_000_000 + n / 1000, f'[2,"m{n}","Heartbeat",{{}}]')


def test_a_log_batch_of_many_slices_is_stored_whole_in_order_handing_over_between_slices(engine, handovers):
    frames = [_frame(n) for n in range(3 * SLICE + 5)]
    log = MessageLog(MessageLogPolicy(), lambda rows: None, key=b"k" * 32)
    rows = log.rows(frames)
    assert len(handovers) == 3  # four slices of frames turned into rows
    with session_scope(engine) as session:
        assert insert_rows(session, rows) == len(frames)
    assert len(handovers) == 6  # and four slices of rows inserted
    with session_scope(engine) as session:
        stored = session.exec(select(OcppMessage).order_by(OcppMessage.id)).all()
    assert [row.message_id for row in stored] == [f"m{n}" for n in range(len(frames))]
    assert stored[-1].frame == frames[-1][-1] and stored[-1].station_id == frames[-1][0]
