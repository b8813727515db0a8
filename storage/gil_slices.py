"""Long Python work on a worker thread, cut into slices that let the event loop run between them.

A worker thread running Python bytecode gives the GIL up only when the interpreter forces a
switch, every ``sys.getswitchinterval()`` (5 ms): an event loop that wakes to a station's frame
meanwhile waits that long, and again at each of its next steps. The GIL released around each
SQLite step did not help (measured): the worker takes it back as soon as the step returns, mostly
before the loop's thread, which shares its core, has run. On the gateway benchmark the message log's writer, turning
thousands of frames into rows every five seconds, took a TransactionEvent's p99 from 14 to
41-49 ms and a Heartbeat's from 2 to 7.5 ms (issue 11). A short sleep between slices hands the
GIL over for certain: the waiting thread takes it while this one sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

# A slice of the message log's rows costs ~0.3-0.5 ms of Python: the longest a loop then waits.
SLICE = 256
HANDOVER_SECONDS = 50e-6


def in_slices(items: Sequence[T], size: int = SLICE) -> Iterator[Sequence[T]]:
    """``items`` in slices of ``size``; the thread sleeps ``HANDOVER_SECONDS`` before each slice
    but the first (a batch of one slice costs nothing more)."""
    if size < 1:
        raise ValueError(f"slice size must be at least 1, not {size}")
    for start in range(0, len(items), size):
        if start:
            time.sleep(HANDOVER_SECONDS)
        yield items[start:start + size]
