"""Back-off for stations whose credentials keep failing.

Each failure after the first few doubles the time during which further attempts of that
identity are answered 429 without checking anything: online password guessing becomes slow,
and a misconfigured station that retries in a tight loop stops costing an argon2 hash per try.
A success clears the record. In memory, per process: only registered identities are counted,
so the table is bounded by the number of stations.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ThrottleSettings:
    free_failures: int = 3       # failures tolerated before any wait
    base_delay: float = 1.0      # seconds, doubled for each further failure
    max_delay: float = 300.0

    def __post_init__(self) -> None:
        if self.free_failures < 0 or self.base_delay <= 0 or self.max_delay < self.base_delay:
            raise ValueError("throttle: free_failures >= 0 and 0 < base_delay <= max_delay")


@dataclass
class _Record:
    failures: int = 0
    blocked_until: float = 0.0


class FailureThrottle:
    def __init__(self, settings: ThrottleSettings | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or ThrottleSettings()
        self._clock = clock
        self._records: dict[str, _Record] = {}

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 when it may try now."""
        record = self._records.get(key)
        if record is None:
            return 0.0
        return max(0.0, record.blocked_until - self._clock())

    def failed(self, key: str) -> float:
        """Count a failure; returns the wait it imposes (0 while failures are still free)."""
        record = self._records.setdefault(key, _Record())
        record.failures += 1
        beyond = record.failures - self.settings.free_failures
        if beyond <= 0:
            return 0.0
        delay = min(self.settings.max_delay, self.settings.base_delay * 2 ** min(beyond - 1, 32))
        record.blocked_until = self._clock() + delay
        return delay

    def succeeded(self, key: str) -> None:
        self._records.pop(key, None)

    def failures(self, key: str) -> int:
        record = self._records.get(key)
        return record.failures if record else 0


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
