"""How often, and how many at once, a connect may cost us a credential check.

Three limits, all in memory, per process, bounded in size:

- ``FailureThrottle``: exponential back-off per key, here (source address, identity). Each
  failure after the first few doubles the time during which that key is answered 429 without
  checking anything. Keyed on the pair, not the identity: guesses from one address slow that
  address down and never lock the real station, connecting from elsewhere, out of its account.
- ``SourceBudget``: a token bucket per source address for everything it gets refused, whatever
  the identity (unknown ones included): a burst, then a steady rate. Checked before any
  database lookup.
- ``AuthenticationThrottle.verifying``: the gate in front of argon2. An attempt is counted
  before it is verified (it reserves a failure of its pair and a token of its source, given back
  when the password was right), so parallel guesses wait for the outcome of those already in
  flight instead of all reaching the hash. At most ``per_identity`` checks of one identity run
  at once, whatever their source; a source that has failed before is refused rather than queued
  behind them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass

from policies.backoff import doubling_delay
from policies.model import AdmissionPolicy


@dataclass(frozen=True)
class ThrottleSettings:
    free_failures: int = 3       # failures tolerated before any wait
    base_delay: float = 1.0      # seconds, doubled for each further failure
    max_delay: float = 300.0
    per_identity: int = 2        # password checks in flight for one identity
    source_burst: int = 20       # refusals a source may cause at once ...
    source_per_minute: int = 30  # ... and then per minute
    max_entries: int = 10_000    # keys remembered by each limit; the least recently used go first

    def __post_init__(self) -> None:
        if self.free_failures < 0 or self.base_delay <= 0 or self.max_delay < self.base_delay:
            raise ValueError("throttle: free_failures >= 0 and 0 < base_delay <= max_delay")
        if min(self.per_identity, self.source_burst, self.source_per_minute, self.max_entries) < 1:
            raise ValueError("throttle: per_identity, source_burst, source_per_minute and max_entries must be >= 1")

    @classmethod
    def from_policy(cls, policy: AdmissionPolicy) -> "ThrottleSettings":
        return cls(free_failures=policy.free_failures, base_delay=policy.failure_delay_seconds,
                   max_delay=policy.max_failure_delay_seconds, per_identity=policy.max_verifications_per_identity,
                   source_burst=policy.source_failure_burst, source_per_minute=policy.source_failures_per_minute,
                   max_entries=policy.tracked_sources)


class _Bounded(OrderedDict):
    """Least recently touched first; the oldest is dropped beyond ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def touch(self, key, make):
        value = self.get(key)
        if value is None:
            value = self[key] = make()
            while len(self) > self.limit:
                self.popitem(last=False)
        else:
            self.move_to_end(key)
        return value


@dataclass
class _Record:
    failures: int = 0
    blocked_until: float = 0.0
    last_failure: float = 0.0


class FailureThrottle:
    """Exponential back-off per key. A record is forgotten on success, or once its last failure
    is ``2 * max_delay`` old (then the key starts afresh)."""

    def __init__(self, settings: ThrottleSettings | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or ThrottleSettings()
        self._clock = clock
        self._records: _Bounded = _Bounded(self.settings.max_entries)

    def _record(self, key: Hashable) -> _Record | None:
        record = self._records.get(key)
        if record is not None and self._clock() - record.last_failure > 2 * self.settings.max_delay:
            del self._records[key]
            return None
        return record

    def retry_after(self, key: Hashable) -> float:
        """Seconds until ``key`` may try again; 0 when it may try now."""
        record = self._record(key)
        return 0.0 if record is None else max(0.0, record.blocked_until - self._clock())

    def failed(self, key: Hashable) -> float:
        """Count a failure; returns the wait it imposes (0 while failures are still free)."""
        record = self._record(key) or self._records.touch(key, _Record)
        self._records.move_to_end(key)
        record.failures += 1
        record.last_failure = self._clock()
        delay = doubling_delay(record.failures, free=self.settings.free_failures,
                               base=self.settings.base_delay, maximum=self.settings.max_delay)
        if delay:
            record.blocked_until = record.last_failure + delay
        return delay

    def succeeded(self, key: Hashable) -> None:
        self._records.pop(key, None)

    def failures(self, key: Hashable) -> int:
        record = self._record(key)
        return record.failures if record else 0

    def __len__(self) -> int:
        return len(self._records)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class SourceBudget:
    """A token bucket per source address: each refusal takes a token; none left → 429.

    The level may go down to ``-burst`` (parallel refusals all count), so a flood waits longer."""

    def __init__(self, settings: ThrottleSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self._burst = float(settings.source_burst)
        self._rate = settings.source_per_minute / 60.0
        self._clock = clock
        self._buckets: _Bounded = _Bounded(settings.max_entries)

    def _level(self, source: str) -> _Bucket | None:
        bucket = self._buckets.get(source)
        if bucket is None:
            return None
        now = self._clock()
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        if bucket.tokens >= self._burst:
            del self._buckets[source]  # full again: nothing to remember
            return None
        return bucket

    def tokens(self, source: str) -> float:
        bucket = self._level(source)
        return self._burst if bucket is None else bucket.tokens

    def retry_after(self, source: str) -> float:
        """Seconds until ``source`` has a whole token again; 0 when it has one now."""
        tokens = self.tokens(source)
        return 0.0 if tokens >= 1 else (1 - tokens) / self._rate

    def take(self, source: str) -> None:
        bucket = self._level(source) or self._buckets.touch(source, lambda: _Bucket(self._burst, self._clock()))
        self._buckets.move_to_end(source)
        bucket.tokens = max(-self._burst, bucket.tokens - 1)

    def give_back(self, source: str) -> None:
        bucket = self._level(source)
        if bucket is not None:
            bucket.tokens = min(self._burst, bucket.tokens + 1)


class Throttled(Exception):
    """Refuse with 429: ``wait`` seconds until a retry may be checked; ``scope`` says whose limit."""

    def __init__(self, scope: str, wait: float, failures: int = 0) -> None:
        super().__init__(f"{scope} throttled for {wait:.0f} s")
        self.scope = scope
        self.wait = wait
        self.failures = failures


@dataclass
class ThrottleCounts:
    """Running totals for a metrics collector."""

    verifications: int = 0       # credential checks that reached argon2
    refused_source: int = 0      # 429 because the source address ran out of budget
    refused_pair: int = 0        # 429 because of the back-off of (source, identity)
    refused_busy: int = 0        # 429 because a failed source found the identity's checks busy


class Verification:
    """One admitted check; ``succeeded()`` before leaving the block, or it counts as a failure."""

    def __init__(self) -> None:
        self.ok = False

    def succeeded(self) -> None:
        self.ok = True


class AuthenticationThrottle:
    """The three limits together (see the module text)."""

    def __init__(self, settings: ThrottleSettings | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or ThrottleSettings()
        self.pairs = FailureThrottle(self.settings, clock)
        self.sources = SourceBudget(self.settings, clock)
        self.counts = ThrottleCounts()
        self._in_flight_pair: dict[tuple[str, str], int] = {}
        self._in_flight_source: dict[str, int] = {}
        self._in_flight_identity: dict[str, int] = {}
        self._changed: asyncio.Condition | None = None

    # --- before anything else (no database yet) ------------------------------------------------

    def check_source(self, source: str | None) -> None:
        if source is None:
            return
        wait = self.sources.retry_after(source)
        if wait > 0:
            self.counts.refused_source += 1
            raise Throttled("source", wait)

    def check_pair(self, source: str | None, identity: str) -> None:
        wait = self.pairs.retry_after((source, identity))
        if wait > 0:
            self.counts.refused_pair += 1
            raise Throttled("identity", wait, self.pairs.failures((source, identity)))

    # --- outcomes --------------------------------------------------------------------------------

    def failed(self, source: str | None, identity: str | None, *, credentials: bool) -> None:
        """A refusal this source caused; ``credentials``: it also feeds the pair's back-off."""
        if source is not None:
            self.sources.take(source)
        if credentials and identity:
            self.pairs.failed((source, identity))

    def succeeded(self, source: str | None, identity: str) -> None:
        self.pairs.succeeded((source, identity))

    # --- the gate in front of argon2 ---------------------------------------------------------------

    def _may_start(self, source: str | None, identity: str) -> bool:
        # Called once the back-off and the budget let this attempt through: it waits only for
        # checks in flight whose failure could still hold it back, so someone will wake it.
        pair = (source, identity)
        in_flight = self._in_flight_pair.get(pair, 0)
        if in_flight and self.pairs.failures(pair) + in_flight > self.settings.free_failures:
            return False
        if source is not None and self.sources.tokens(source) - self._in_flight_source.get(source, 0) < 1:
            return False
        return self._in_flight_identity.get(identity, 0) < self.settings.per_identity

    @contextlib.asynccontextmanager
    async def verifying(self, source: str | None, identity: str) -> AsyncIterator[Verification]:
        """Admit one credential check: counted before it runs, given back if it succeeds.

        Waits while those in flight may still decide (their outcome can block this one);
        raises ``Throttled`` once they did, or at once for a source with failures behind it
        when the identity's checks are all busy."""
        if self._changed is None:
            self._changed = asyncio.Condition()
        pair = (source, identity)
        async with self._changed:
            while True:
                self.check_source(source)
                self.check_pair(source, identity)
                if self._may_start(source, identity):
                    break
                if (self._in_flight_identity.get(identity, 0) >= self.settings.per_identity
                        and (self.pairs.failures(pair) or (source is not None and self.sources.tokens(source)
                                                           < self.settings.source_burst))):
                    self.counts.refused_busy += 1
                    raise Throttled("busy", 1.0, self.pairs.failures(pair))
                await self._changed.wait()
            _add(self._in_flight_pair, pair, 1)
            _add(self._in_flight_identity, identity, 1)
            if source is not None:
                _add(self._in_flight_source, source, 1)
            self.counts.verifications += 1
        verification = Verification()
        try:
            yield verification
        finally:
            async with self._changed:
                # The outcome is counted before the slot is given back: nobody waiting can slip in
                # between a failure and its back-off.
                if verification.ok:
                    self.succeeded(source, identity)
                else:
                    self.failed(source, identity, credentials=True)
                _add(self._in_flight_pair, pair, -1)
                _add(self._in_flight_identity, identity, -1)
                if source is not None:
                    _add(self._in_flight_source, source, -1)
                self._changed.notify_all()


def _add(table: dict, key, step: int) -> None:
    value = table.get(key, 0) + step
    if value:
        table[key] = value
    else:
        table.pop(key, None)


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
