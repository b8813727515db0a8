"""One blocking call (a journal's fdatasync) shared by the coroutines that wait for it, run on a
thread of its own.

A write answered once durable (storage/write_behind.py) waits for the fdatasync that follows its
journal entry; the entries of the moment share one. Through the loop's executor each sync cost
the loop a task, a hop to a worker thread and a future per waiter: at a charging fleet's thousand
events a second, ~400 syncs, py-spy on the gateway benchmark put that at a tenth of an event's
time on the event loop. Here the waiters of the moment are handed to the thread as one list, the
thread sleeps on a queue between syncs, and each sync costs the loop one wake-up. The wait for
company is a timer on the loop, not a sleep on the thread: each time the thread wakes it must
take the interpreter's lock back from the busy loop, and a sleep was one such time more a sync.

What a waiter is owed: ``__call__`` returns once a sync that began after it was called has ended
(so whatever the caller did before calling is covered), or raises what that sync raised. Under
steady traffic a sync waits for company as storage/batching.py's batches do (``gather``).
"""

from __future__ import annotations

import asyncio
import math
import queue
import threading
import time
from collections.abc import Callable

from storage.batching import company_wait


class SyncThread:
    def __init__(self, sync: Callable[[], None], *, gather: float, name: str = "journal-sync") -> None:
        self._sync = sync
        self._gather = gather
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # The next sync's waiters (a future each: one cancelled leaves the others theirs). The
        # list is handed to the thread as it starts; a SimpleQueue wakes it without a
        # Python-level lock on the loop's side.
        self._next: list[asyncio.Future] | None = None
        self._asked: queue.SimpleQueue[list[asyncio.Future] | None] = queue.SimpleQueue()
        self._handing: asyncio.TimerHandle | None = None   # the next sync's, while it waits for company
        self._stopping = False
        self._last_size, self._last_end = 0, -math.inf

    def start(self) -> SyncThread:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        return self

    async def __call__(self) -> None:
        if self._thread is None or self._stopping:
            raise RuntimeError(f"{self._name} is not running")
        assert self._loop is not None
        waiter = self._loop.create_future()
        waiting = self._next   # read once: the thread may let go of it at any moment
        if waiting is None:
            now = time.monotonic()
            self._next = [waiter]
            wait = company_wait(self._gather, self._last_size > 1, since_last_end=now - self._last_end,
                                since_oldest=0.0)
            if wait:
                self._handing = self._loop.call_later(wait, self._hand_over, self._next)
            else:
                self._asked.put(self._next)
        else:
            waiting.append(waiter)
        await waiter

    async def aclose(self) -> None:
        """Stop once the syncs asked for are done."""
        if self._thread is None:
            return
        self._stopping = True
        if self._handing is not None:
            self._handing.cancel()
            self._hand_over(self._next)   # its waiters are owed their sync before the thread ends
        self._asked.put(None)
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    def _hand_over(self, waiters: list[asyncio.Future]) -> None:
        self._handing = None
        self._asked.put(waiters)

    def _run(self) -> None:
        while (waiters := self._asked.get()) is not None:
            # Let go of before the sync starts: a waiter that comes from here on asks for the
            # next one, and whatever it wrote before is then covered by that sync. One that came
            # until now wrote before this sync starts.
            self._next = None
            error: BaseException | None = None
            try:
                self._sync()
            except BaseException as exc:  # noqa: BLE001 - every waiter of this sync gets it
                error = exc
            # Before the answers: the loop reads these for the next sync's wait for company
            # (__call__), and a waiter answered may call again at once.
            self._last_size, self._last_end = len(waiters), time.monotonic()
            self._answer(waiters, error)

    def _answer(self, waiters: list[asyncio.Future], error: BaseException | None) -> None:
        def settle() -> None:
            for waiter in waiters:
                if waiter.done():   # its caller was cancelled
                    continue
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)

        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(settle)
        except RuntimeError:   # the loop closed meanwhile: nobody waits any more
            pass
