"""Syncs carried out on a thread of their own, for storage/shared_sync.py: the way everywhere, and
where no helper process can run (storage/sync_process.py) or the helper has gone.

Through the loop's executor each sync cost the loop a task, a hop to a worker thread and a
future per waiter; here the thread sleeps on a queue between syncs and each sync costs the loop
one wake-up. What it cannot avoid: each time the thread wakes, and again when its system call
returns, it must take the interpreter's lock back from the busy event loop, a wait of up to
``sys.getswitchinterval()`` each time.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable

from storage.shared_sync import CLOSE_WAIT, Done


class SyncThread:
    def __init__(self, sync: Callable[[], None], *, name: str = "journal-sync") -> None:
        self._sync = sync
        self._name = name
        self._thread: threading.Thread | None = None
        # A SimpleQueue wakes the thread without a Python-level lock on the loop's side.
        self._asked: queue.SimpleQueue[bool] = queue.SimpleQueue()

    def start(self, done: Done) -> None:
        loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, args=(loop, done), name=self._name, daemon=True)
        self._thread.start()

    def submit(self) -> None:
        self._asked.put(True)

    async def aclose(self) -> None:
        if self._thread is None:
            return
        self._asked.put(False)
        # Polled, not joined on an executor's thread: a sync that never returns (a disk gone)
        # would hold that thread, and the loop's close waits for its executor's threads.
        deadline = time.monotonic() + CLOSE_WAIT
        while self._thread.is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        self._thread = None

    def _run(self, loop: asyncio.AbstractEventLoop, done: Done) -> None:
        while self._asked.get():
            error: BaseException | None = None
            try:
                self._sync()
            except BaseException as exc:  # noqa: BLE001 - every waiter of this sync gets it
                error = exc
            try:
                loop.call_soon_threadsafe(done, error)
            except RuntimeError:   # the loop closed meanwhile: nobody waits any more
                return
