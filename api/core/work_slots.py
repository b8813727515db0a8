"""At most so many requests worked on at once by one process; a request waiting outside the
process (a station's answer, its client's bytes) gives its slot to another meanwhile.

Why: the REST API runs on the event loop that serves the stations. A hundred requests at once
(an officer's script asking a fleet for its logs) are each a chain of steps on the loop and on
worker threads; run all together, each turn of the loop carried a step of every one of them, and
a station's Heartbeat waited behind them all: 80-130 ms with the server's core fully busy, where
its idle round trip is about 1 ms. Four at a time, a request back from its station first, the
heartbeats' slowest waits during the same hundred requests were 10-16 ms, and the requests were
answered sooner (a median 0.40-0.53 s against 0.49-0.72 s) (`scripts/bench_uploads.py`,
2026-12-07; README, Logs).

``WorkSlots.held()`` is entered once per request (api/rest/active_requests.py); ``released()``
around any wait that is not this process's work: a station that takes 30 s to answer must not
hold a slot for 30 s. Outside a request (a job, a station's own call) ``released()`` does nothing.
A request coming back from such a wait goes before the requests not yet begun: what was started
is finished first, and an answer being sent does not queue behind a hundred new requests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from contextvars import ContextVar


class WorkSlots:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"at least one request must be worked on at a time, not {limit}")
        self.limit = limit
        self._free = limit
        # Waiting for a slot, in order: requests back from a wait outside, then new ones.
        self._returning: deque[asyncio.Future[None]] = deque()
        self._arriving: deque[asyncio.Future[None]] = deque()

    @property
    def working(self) -> int:
        """Slots held now."""
        return self.limit - self._free

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot now, begun or not."""
        return sum(not waiter.done() for queue in (self._returning, self._arriving) for waiter in queue)

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """A slot for the code within, waiting in turn for one."""
        await self._take(self._arriving)
        slot = _Slot(self)
        token = _current.set(slot)
        try:
            yield
        finally:
            _current.reset(token)
            if slot.held:
                slot.held = False
                self._give()

    async def _take(self, queue: deque[asyncio.Future[None]]) -> None:
        if self._free:   # a free slot means nobody waits: _give hands slots to waiters first
            self._free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._give()   # handed a slot as it was cancelled: the next in line has it
            else:
                with contextlib.suppress(ValueError):
                    queue.remove(waiter)
            raise

    def _give(self) -> None:
        for queue in (self._returning, self._arriving):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._free += 1


class _Slot:
    """The slot of one request, given up and taken back only by the task that took it: a task the
    request starts inherits its context, and may outlive it (a campaign's passes); its waits on
    stations must neither free a slot the request still works in nor take one nobody returns."""

    __slots__ = ("slots", "held", "owner")

    def __init__(self, slots: WorkSlots) -> None:
        self.slots = slots
        self.held = True
        self.owner = asyncio.current_task()


_current: ContextVar[_Slot | None] = ContextVar("chargeca_work_slot", default=None)


@contextlib.asynccontextmanager
async def released() -> AsyncIterator[None]:
    """The current request's slot given up while the code within waits, taken back after it,
    before any request not yet begun. When the wait ends in an exception (a cancellation, a
    timeout) the slot is not taken back: what is left of the request is its error's answer, and
    a cancelled one must not queue."""
    slot = _current.get()
    if slot is None or not slot.held or slot.owner is not asyncio.current_task():
        yield
        return
    slot.held = False
    slot.slots._give()
    yield
    await slot.slots._take(slot.slots._returning)
    slot.held = True
