"""A token bucket: at most ``per_minute`` a minute, in bursts of as many. For what a client can
make us write (rows, log lines) at its own rate."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.size = float(per_minute)
        self._rate = per_minute / 60.0
        self._tokens = self.size
        self._clock = clock
        self._updated = clock()

    def take(self) -> bool:
        """Whether one more fits now (and if so, it is counted)."""
        now = self._clock()
        self._tokens = min(self.size, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
