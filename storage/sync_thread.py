"""One blocking call (a journal's fdatasync) shared by the coroutines that wait for it, run on a
thread of its own.

A write answered once durable (storage/write_behind.py) waits for the fdatasync that follows its
journal entry; the entries of the moment share one. Through the loop's executor each sync cost
the loop a task, a hop to a worker thread and a future per waiter: at a charging fleet's thousand
events a second, ~400 syncs, py-spy on the gateway benchmark put that at a tenth of an event's
time on the event loop. Here the waiters of the moment share one future, the thread sleeps on a
condition between syncs, and each sync costs the loop one wake-up.

What a waiter is owed: ``__call__`` returns once a sync that began after it was called has ended
(so whatever the caller did before calling is covered), or raises what that sync raised. Under
steady traffic a sync waits for company as storage/batching.py's batches do (``gather``).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable


class SyncThread:
    def __init__(self, sync: Callable[[], None], *, gather: float, name: str = "journal-sync") -> None:
        self._sync = sync
        self._gather = gather
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._asked = threading.Condition()
        self._stopping = False
        # The next sync's: its future, when its first waiter came (time.monotonic), how many wait.
        self._next: asyncio.Future | None = None
        self._next_since = 0.0
        self._next_waiting = 0
        self._last_size, self._last_end = 0, -math.inf

    def start(self) -> SyncThread:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        return self

    async def __call__(self) -> None:
        if self._thread is None or self._stopping:
            raise RuntimeError(f"{self._name} is not running")
        waiting = self._next
        if waiting is None:
            assert self._loop is not None
            waiting = self._next = self._loop.create_future()
            self._next_since, self._next_waiting = time.monotonic(), 1
            with self._asked:
                self._asked.notify()
        else:
            self._next_waiting += 1
        # Shielded: one waiter cancelled must not cancel the sync's answer to the others.
        await asyncio.shield(waiting)

    async def aclose(self) -> None:
        """Stop once the syncs asked for are done."""
        if self._thread is None:
            return
        with self._asked:
            self._stopping = True
            self._asked.notify()
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    def _run(self) -> None:
        while True:
            with self._asked:
                while self._next is None and not self._stopping:
                    self._asked.wait()
                if self._next is None:
                    return
            self._wait_for_company()
            # Taken before the sync starts: a waiter that finds no future from here on asks for
            # the next one, and whatever it wrote before is then covered by that sync.
            waiting, size = self._next, self._next_waiting
            self._next = None
            assert waiting is not None
            try:
                self._sync()
            except BaseException as exc:  # noqa: BLE001 - every waiter of this sync gets it
                self._answer(waiting, exc)
            else:
                self._answer(waiting, None)
            self._last_size, self._last_end = size, time.monotonic()

    def _wait_for_company(self) -> None:
        now = time.monotonic()
        steady = self._last_size > 1 or self._next_waiting > 1
        if self._gather and steady and now - self._last_end < self._gather and now - self._next_since < self._gather:
            time.sleep(self._gather - (now - self._next_since))

    def _answer(self, waiting: asyncio.Future, error: BaseException | None) -> None:
        def settle() -> None:
            if waiting.done():
                return
            if error is None:
                waiting.set_result(None)
            else:
                waiting.set_exception(error)

        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(settle)
        except RuntimeError:   # the loop closed meanwhile: nobody waits any more
            pass
