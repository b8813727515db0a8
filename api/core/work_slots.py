"""At most so many requests worked on at once by one process; a request waiting outside the
process (a station's answer, its client's bytes) gives its slot to another meanwhile.

Why: the REST API runs on the event loop that serves the stations. A hundred requests at once
(an officer's script asking a fleet for its logs) are each a chain of steps on the loop and on
worker threads; run all together, each turn of the loop carried a step of every one of them, and
a station's Heartbeat waited behind them all: 80-130 ms with the server's core fully busy, where
its idle round trip is about 1 ms. Four at a time, the heartbeats' slowest waits during the same
hundred requests were 6-27 ms, and the requests were answered as soon as before
(`scripts/bench_uploads.py`, 2026-12-07; README, Logs).

``WorkSlots.held()`` is entered once per request (api/rest/active_requests.py); ``released()``
around any wait that is not this process's work: a station that takes 30 s to answer must not
hold a slot for 30 s. Outside a request (a job, a station's own call) ``released()`` does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextvars import ContextVar


class _Slot:
    """The slot of one request, given up and taken back only by the task that took it: a task the
    request starts inherits its context, and may outlive it (a campaign's passes); its waits on
    stations must neither free a slot the request still works in nor take one nobody returns."""

    __slots__ = ("semaphore", "held", "owner")

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self.semaphore = semaphore
        self.held = True
        self.owner = asyncio.current_task()


_current: ContextVar[_Slot | None] = ContextVar("chargeca_work_slot", default=None)


class WorkSlots:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"at least one request must be worked on at a time, not {limit}")
        self.limit = limit
        self._semaphore = asyncio.Semaphore(limit)

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """A slot for the code within, waiting in turn for one (first come, first served)."""
        await self._semaphore.acquire()
        slot = _Slot(self._semaphore)
        token = _current.set(slot)
        try:
            yield
        finally:
            _current.reset(token)
            if slot.held:
                slot.held = False
                slot.semaphore.release()


@contextlib.asynccontextmanager
async def released() -> AsyncIterator[None]:
    """The current request's slot given up while the code within waits, taken back after it.
    When the wait ends in an exception (a cancellation, a timeout) the slot is not taken back:
    what is left of the request is its error's answer, and a cancelled one must not queue."""
    slot = _current.get()
    if slot is None or not slot.held or slot.owner is not asyncio.current_task():
        yield
        return
    slot.held = False
    slot.semaphore.release()
    yield
    await slot.semaphore.acquire()
    slot.held = True
