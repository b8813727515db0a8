"""Long Python work on a worker thread, cut into slices that let the event loop run between them.

A worker thread running Python bytecode gives the GIL up only when the interpreter forces a
switch, every ``sys.getswitchinterval()`` (5 ms): an event loop that wakes to a station's frame
meanwhile waits that long, and again at each of its next steps. The GIL released around each
SQLite step did not help (measured): the worker takes it back as soon as the step returns, mostly
before the loop's thread, which shares its core, has run. On the gateway benchmark the message log's writer, turning
thousands of frames into rows every five seconds, took a TransactionEvent's p99 from 14 to
41-49 ms and a Heartbeat's from 2 to 7.5 ms (issue 11). A short sleep between slices hands the
GIL over for certain: the waiting thread takes it while this one sleeps.

A handover alone still left the whole batch's work in one burst: every five seconds the message
log's writer took ~40 % of the core for half a second, on a core the stations' traffic kept ~70 %
busy; the TransactionEvents' group commits fell behind, and their round trips rose from ~7 ms to
50-270 ms until it was over: the whole of their p99 (issue 11; each round trip of
scripts/bench_gateway.py --only-charging set against the writer's flushes). So a slice is
followed by a sleep long enough that the slices take at most ``DUTY`` of the core while the
work lasts, as PostgreSQL spreads a checkpoint's writes (checkpoint_completion_target): the same
work over a longer time, beside the traffic instead of ahead of it. Measured the same way: a
flush then lasts ~0.8 s instead of ~0.6, and the round trips during it rose to 20-55 ms.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

# A slice of the message log's rows costs ~0.1 ms of Python at 64 rows (~0.3-0.5 ms at 256, a
# TransactionEvent's frames more): the longest a loop then waits. Alternating runs of
# scripts/bench_gateway.py --only-charging, the log on: p99 8.8-9.6 ms at 64 rows against
# 9.9-11.7 ms at 256 (4 runs each), and 511-524 µs of CPU per event against 527-539. The
# duty below, not the slice, bounds the writer's throughput.
SLICE = 64
HANDOVER_SECONDS = 50e-6
# At most a quarter of the core: the writer then keeps up with ~25,000 frames a second of ~10 µs
# each (redaction and insert of a Heartbeat or its answer); one gateway process at full load
# carries ~17,000 (~8,500 Heartbeats a second, two frames each).
DUTY = 0.25


def in_slices(items: Sequence[T], size: int = SLICE, *, duty: float = DUTY) -> Iterator[Sequence[T]]:
    """``items`` in slices of ``size``; before each slice but the first, the thread sleeps
    ``HANDOVER_SECONDS``, or longer when the previous slice's CPU time (this thread's, the
    consumer's work on it included) asks for it to stay within ``duty`` (a batch of one slice
    costs nothing more)."""
    if size < 1:
        raise ValueError(f"slice size must be at least 1, not {size}")
    if not 0 < duty <= 1:
        raise ValueError(f"duty must be above 0 and at most 1, not {duty}")
    mark = 0.0
    for start in range(0, len(items), size):
        if start:
            spent = time.thread_time() - mark
            time.sleep(max(HANDOVER_SECONDS, spent * (1 - duty) / duty))
        mark = time.thread_time()
        yield items[start:start + size]
