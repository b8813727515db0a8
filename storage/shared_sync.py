"""One blocking sync (a journal's fdatasync) shared by the coroutines that wait for it.

A write answered once durable (storage/write_behind.py) waits for a sync that begins after its
journal entry is written; the entries of the moment share one, as the writes of a group commit
share its commit. ``SharedSync`` decides which waiters a sync serves and when it starts, on the
event loop; a runner carries the syncs out elsewhere, one after the other, and says on the loop
when each ended: on a thread (storage/sync_thread.py) or in a helper process
(storage/sync_process.py).

What a waiter is owed: ``__call__`` returns once a sync that began after it was called has ended
(so whatever the caller did before calling is covered), or raises what that sync raised. Under
steady traffic a sync waits for company as storage/batching.py's batches do (``gather``); one
sync runs at a time, and the waiters that come meanwhile go together in the next.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from storage.batching import company_wait

log = logging.getLogger("chargeca.storage.shared_sync")

# How long a close waits for the syncs asked for.
CLOSE_WAIT = 10.0

# What a runner tells the loop when a sync it was asked for has ended: None, or what it raised.
Done = Callable[[BaseException | None], None]


@dataclass(frozen=True)
class SyncEnded:
    """One sync, as the loop saw it, for whoever watches the disk (``SharedSync``'s ``on_sync``)."""

    took: float                 # seconds from asking the runner to its answer: the disk's sync, and the hand-offs
    waited: tuple[float, ...]   # seconds each waiter waited, first come first: the company wait, a sync ahead, this one
    failed: bool

    @property
    def waiters(self) -> int:
        return len(self.waited)


class SyncRunner(Protocol):
    def start(self, done: Done) -> None:
        """Ready to sync; ``done`` is called on the event loop once per ``submit``, in order."""

    def submit(self) -> None:
        """Ask for a sync that begins after this call (and after every sync asked before)."""

    async def aclose(self) -> None:
        """Stop once the syncs asked for are done, or, a sync still running, within CLOSE_WAIT."""


class SharedSync:
    def __init__(self, runner: SyncRunner, *, gather: float, name: str = "journal-sync",
                 on_sync: Callable[[SyncEnded], object] | None = None) -> None:
        self._runner = runner
        self._on_sync = on_sync
        self._gather = gather
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        # The next sync's waiters (a future each: one cancelled leaves the others theirs, and when
        # it came), then those of the sync running.
        self._next: list[tuple[asyncio.Future, float]] | None = None
        self._running: list[tuple[asyncio.Future, float]] | None = None
        self._handing: asyncio.TimerHandle | None = None   # the next sync's, while it waits for company
        self._due = False            # the next sync has waited for company: it starts when the running one ends
        self._started = self._stopping = False
        self._last_size, self._last_end = 0, -math.inf
        self._running_asked = 0.0   # when the running sync was asked for
        self._quiet = asyncio.Event()   # set when no sync waits nor runs, for aclose
        self.syncs = 0               # ended, for whoever watches how many waiters share one

    def start(self) -> SharedSync:
        self._loop = asyncio.get_running_loop()
        self._runner.start(self._ended)
        self._started = True
        return self

    async def __call__(self) -> None:
        if not self._started or self._stopping:
            raise RuntimeError(f"{self._name} is not running")
        assert self._loop is not None
        waiter, now = self._loop.create_future(), time.monotonic()
        if self._next is None:
            self._next = [(waiter, now)]
            wait = company_wait(self._gather, self._last_size > 1, since_last_end=now - self._last_end,
                                since_oldest=0.0)
            if wait:
                self._handing = self._loop.call_later(wait, self._hand_over)
            else:
                self._hand_over()
        else:
            self._next.append((waiter, now))
        await waiter

    async def aclose(self, wait: float = CLOSE_WAIT) -> None:
        """Stop once the syncs asked for are done, or after ``wait`` seconds: a disk that no
        longer answers must not hold the process's stop. Their waiters are then never answered,
        and their entries stay in the journal for the next start to store."""
        if not self._started:
            return
        self._stopping = True
        if self._handing is not None:
            self._handing.cancel()
            self._hand_over()   # its waiters are owed their sync before the runner stops
        try:
            await asyncio.wait_for(self._all_ended(), wait)
        except TimeoutError:
            log.error("%s: a sync still unanswered after %.1f s; stopping without it", self._name, wait)
        await self._runner.aclose()
        self._started = False

    async def _all_ended(self) -> None:
        while self._next is not None or self._running is not None:
            self._quiet.clear()
            await self._quiet.wait()

    def _hand_over(self) -> None:
        self._handing = None
        if self._running is None:
            self._begin()
        else:
            self._due = True

    def _begin(self) -> None:
        # Whoever calls from here on wrote after this sync was asked for: it waits for the next.
        self._running, self._next, self._due = self._next, None, False
        self._running_asked = time.monotonic()
        self._runner.submit()

    def _ended(self, error: BaseException | None) -> None:
        waiters, self._running = self._running or [], None
        self.syncs += 1
        # Before the answers: an answered waiter may call again at once, and its wait for company
        # is decided from this sync.
        self._last_size, self._last_end = len(waiters), time.monotonic()
        if self._on_sync is not None:
            self._on_sync(SyncEnded(self._last_end - self._running_asked,
                                    tuple(self._last_end - came for _, came in waiters), error is not None))
        for waiter, _ in waiters:
            if waiter.done():   # its caller was cancelled
                continue
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)
        if self._due:
            self._begin()
        elif self._next is None:
            self._quiet.set()
