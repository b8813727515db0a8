"""How a background loop reports passes that fail: the first failure with its traceback, the same
failure again at most once every ``REPEAT_EVERY`` seconds with how many came meanwhile, a new kind
of failure at once, and the return to normal once.

A database that goes away makes every poller fail at its own pace (the disconnect watch once a
second, the outbox, the certificate workers, the security-event spool, …). Logged with a traceback
at each pass, that wrote some 170 lines a second: 240,000 lines in the 23 minutes one benchmark
server outlived its dropped database, burying the one line that said why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

REPEAT_EVERY = 60.0


class FailureLog:
    """One per loop. ``failed()`` inside the ``except`` that caught a pass's exception;
    ``succeeded()`` after a pass that worked."""

    def __init__(self, logger: logging.Logger, what: str, *, repeat_every: float = REPEAT_EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``what``: the pass, as the log names it ("looking for station disconnect requests")."""
        self._log = logger
        self._what = what
        self._repeat_every = repeat_every
        self._clock = clock
        self._reason: str | None = None   # the failure last logged; None while passes work
        self._since = self._logged_at = 0.0
        self._failures = 0                # since the failure was first logged
        self._unlogged = 0                # since it was last logged

    @property
    def failing(self) -> bool:
        return self._reason is not None

    def failed(self, exc: BaseException) -> None:
        now = self._clock()
        reason = f"{type(exc).__name__}: {exc}"
        self._failures += 1
        if reason != self._reason:
            if self._reason is None:
                self._since, self._failures = now, 1
            self._log.error("%s failed", self._what, exc_info=exc)
            self._reason, self._logged_at, self._unlogged = reason, now, 0
            return
        self._unlogged += 1
        if now - self._logged_at >= self._repeat_every:
            self._log.error("%s still fails: %d times in the last %.0f s, %d since %.0f s ago (%s)", self._what,
                            self._unlogged, now - self._logged_at, self._failures, now - self._since, reason)
            self._logged_at, self._unlogged = now, 0

    def succeeded(self) -> None:
        if self._reason is None:
            return
        self._log.warning("%s works again, after %d failed passes over %.0f s", self._what, self._failures,
                          self._clock() - self._since)
        self._reason, self._failures, self._unlogged = None, 0, 0

    async def attempt(self, work: Callable[[], Awaitable[object]]) -> None:
        """One pass of ``work``: its failure reported here, never raised (the next pass tries again)."""
        try:
            await work()
        except Exception as exc:  # noqa: BLE001 - reported; the loop goes on
            self.failed(exc)
        else:
            self.succeeded()


async def woken_or_after(wake: asyncio.Event, seconds: float) -> None:
    """Until ``wake`` is set or ``seconds`` have passed: a background loop's wait between passes.
    asyncio.timeout, not wait_for: on Python 3.11 wait_for returns, instead of raising, when the
    task is cancelled just as the event is set, and a worker cancelled then never stops (its
    ``aclose`` waits for it for good)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await wake.wait()
