"""The event loop's delay and the collector's pauses, as /metrics reports them (api/loop_delay.py)."""

from __future__ import annotations

import asyncio
import gc
import time

import pytest

from api import loop_delay
from api.ocpp.metrics import EVENTS

pytestmark = pytest.mark.fast


async def test_a_loop_held_busy_shows_as_a_late_timer() -> None:
    seen: list[float] = []
    probe = asyncio.create_task(loop_delay.probe_loop_delay(seen.append, interval=0.01))
    while len(seen) < 3:
        await asyncio.sleep(0.005)
    time.sleep(0.08)   # a handler that blocks the loop: every station waits this long
    waited = len(seen)
    while len(seen) == waited:
        await asyncio.sleep(0.005)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe

    assert seen[waited] >= 0.07
    assert min(seen) >= 0.0


def _pauses(generation: str) -> float:
    return EVENTS.get_sample_value("chargeca_gc_pause_seconds_count", {"generation": generation}) or 0.0


def test_each_collection_is_timed_by_its_generation_once() -> None:
    loop_delay.time_gc_pauses()
    loop_delay.time_gc_pauses()   # `serve` and a test's stack may both ask: one timer
    before = {generation: _pauses(generation) for generation in "012"}

    gc.collect(2)
    gc.collect(0)

    assert sum(isinstance(callback, loop_delay._PauseTimer) for callback in gc.callbacks) == 1
    assert _pauses("2") - before["2"] >= 1
    assert _pauses("0") - before["0"] >= 1
    assert EVENTS.get_sample_value("chargeca_gc_pause_seconds_sum", {"generation": "2"}) > 0
