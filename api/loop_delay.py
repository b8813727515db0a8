"""How long the event loop keeps what is due waiting, for the Prometheus endpoint (api/metrics.py).

Every station's frame, every REST request and every timer of a process waits for its one event
loop. When the loop falls behind (a core shared with other work, a burst of boots, the cyclic
collector stopping every thread), each station sees it as answers that come late, and nothing
in the message counts says so. Two histograms do:

- ``chargeca_event_loop_delay_seconds``: a timer set every ``PROBE_INTERVAL`` seconds, and how
  long after its time the loop ran it (up to a millisecond of it is the loop's own rounding of
  its sleep). What a frame that arrives at a random instant waits before the loop reads it is of
  the same order.
- ``chargeca_gc_pause_seconds{generation}``: each collection of the cyclic collector, which holds
  every thread of the process while it runs.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Histogram

from api.ocpp.metrics import EVENTS

# Four timers a second: a delay shows within the second, for a few µs of the loop's time each.
PROBE_INTERVAL = 0.25
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

_delay = Histogram("chargeca_event_loop_delay_seconds", "How long after its time this process's event loop ran "
                   "a timer due on it, probed four times a second: what stations' frames and REST requests "
                   "wait for the loop.", buckets=_BUCKETS, registry=EVENTS)
_pause = Histogram("chargeca_gc_pause_seconds", "Collections of the cyclic garbage collector, which hold every "
                   "thread of this process, by generation.", ["generation"], buckets=_BUCKETS, registry=EVENTS)


async def probe_loop_delay(observe: Callable[[float], Any] = _delay.observe, *,
                           interval: float = PROBE_INTERVAL) -> None:
    """Until cancelled: a timer every ``interval`` seconds, and how late the loop ran it."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval
        await asyncio.sleep(interval)
        observe(max(0.0, loop.time() - due))


class _PauseTimer:
    """A gc callback: the collection's duration, observed when it stops. The collector runs in
    whichever thread allocated last, with the interpreter's lock held: one at a time."""

    def __init__(self) -> None:
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            _pause.labels(str(info["generation"])).observe(time.perf_counter() - self._started)


def time_gc_pauses() -> None:
    """Count the collector's pauses from now on, for this process (once, however often called)."""
    if not any(isinstance(callback, _PauseTimer) for callback in gc.callbacks):
        gc.callbacks.append(_PauseTimer())
