"""Failed bearer-token authentications: back-off per source address, and their audit in aggregate.

A token's secret is checked with argon2, slow on purpose, so guessing costs the server more than
the guesser. Each attempt that needs the hash is counted as a failure *before* the hash runs and
given back when it succeeds: parallel guesses cannot all slip past the check while the first ones
are still hashing. After ``auth_free_failures`` the source waits, doubling each time; a source in
back-off is answered 429 without any hash. The back-off is per source, never per token: a correct
token from elsewhere is unaffected, and a token verified recently (no hash needed) passes even
from a source in back-off.

Failures are audited, but an unauthenticated client must not decide how many rows get written:
they are tallied per source in memory and written as one ``auth.token.failed`` entry per source
and interval (count, first, last), at most ``auth_audit_max_sources`` entries per interval; the
remaining sources share one entry. Both tables are bounded by ``auth_tracked_sources``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

from api.core.context import Context
from policies.backoff import doubling_delay
from policies.model import RestPolicy
from storage import audit
from storage.db import session_scope
from storage.types import utcnow

log = logging.getLogger("chargeca.rest.auth")

AUDIT_ACTION = "auth.token.failed"
OTHER_SOURCES = "*"


def source_key(host: str | None) -> str:
    """The unit of back-off: the address, or its /64 for IPv6 (one host usually holds a whole /64)."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


@dataclass
class _Backoff:
    failures: int = 0
    blocked_until: float = 0.0
    last_failure: float = 0.0


class SourceBackoff:
    """Failure counts and waits per source. Thread-safe: token checks run in a thread pool."""

    def __init__(self, policy: RestPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._sources: dict[str, _Backoff] = {}
        self._lock = threading.Lock()

    def begin(self, source: str) -> float:
        """Seconds the source must still wait (nothing counted), or 0: the attempt is counted
        as a failure until ``release`` says otherwise."""
        with self._lock:
            now = self._clock()
            record = self._current(source, now)
            if record is not None and record.blocked_until > now:
                return record.blocked_until - now
            if record is None:
                self._make_room(now)
                record = self._sources[source] = _Backoff()
            record.failures += 1
            record.last_failure = now
            delay = doubling_delay(record.failures, free=self._policy.auth_free_failures,
                                   base=self._policy.auth_base_delay_seconds,
                                   maximum=self._policy.auth_max_delay_seconds)
            if delay:
                record.blocked_until = now + delay
            return 0.0

    def release(self, source: str) -> None:
        """The attempt ``begin`` counted was no failed authentication (the token was good, or the
        check could not run). Earlier failures stay counted: a guesser holding one valid token
        cannot clear its record by using it."""
        with self._lock:
            record = self._sources.get(source)
            if record is None:
                return
            record.failures -= 1
            if record.failures <= 0:
                del self._sources[source]
            elif record.failures <= self._policy.auth_free_failures:
                record.blocked_until = 0.0

    def _current(self, source: str, now: float) -> _Backoff | None:
        record = self._sources.get(source)
        if record is not None and self._forgotten(record, now):
            del self._sources[source]
            return None
        return record

    def _forgotten(self, record: _Backoff, now: float) -> bool:
        return record.blocked_until <= now and now - record.last_failure > self._policy.auth_forget_after_seconds

    def _make_room(self, now: float) -> None:
        if len(self._sources) < self._policy.auth_tracked_sources:
            return
        for key in [k for k, r in self._sources.items() if self._forgotten(r, now)]:
            del self._sources[key]
        while len(self._sources) >= self._policy.auth_tracked_sources:
            # Least recently failing first: an active guesser keeps its record.
            del self._sources[min(self._sources, key=lambda k: self._sources[k].last_failure)]


@dataclass
class Tally:
    failures: int = 0
    throttled: int = 0
    first: datetime | None = None
    last: datetime | None = None
    sources: int = 1   # for the shared entry: the tracked sources merged into it (past the bound: not counted)

    def add(self, other: "Tally") -> None:
        self.failures += other.failures
        self.throttled += other.throttled
        self.first = min(d for d in (self.first, other.first) if d is not None)
        self.last = max(d for d in (self.last, other.last) if d is not None)  # other has both: noted once
        self.sources += other.sources


class FailureLedger:
    """Failures since the last audit write, per source; bounded, thread-safe."""

    def __init__(self, policy: RestPolicy, clock: Callable[[], datetime] = utcnow) -> None:
        self._policy = policy
        self._clock = clock
        self._tallies: dict[str, Tally] = {}
        self._lock = threading.Lock()

    def note(self, source: str, *, throttled: bool) -> None:
        with self._lock:
            if source not in self._tallies and len(self._tallies) >= self._policy.auth_tracked_sources:
                source = OTHER_SOURCES
            tally = self._tallies.setdefault(source, Tally(sources=0 if source == OTHER_SOURCES else 1))
            if throttled:
                tally.throttled += 1
            else:
                tally.failures += 1
            now = self._clock()
            tally.first = tally.first or now
            tally.last = now

    def drain(self) -> dict[str, Tally]:
        """What to write now: the busiest sources one by one, the others merged under ``*``."""
        with self._lock:
            tallies, self._tallies = self._tallies, {}
        named = sorted(((source, tally) for source, tally in tallies.items() if source != OTHER_SOURCES),
                       key=lambda item: item[1].failures + item[1].throttled, reverse=True)
        limit = self._policy.auth_audit_max_sources
        keep = limit - 1 if len(named) + (OTHER_SOURCES in tallies) > limit else len(named)
        written = dict(named[:keep])
        rest = [tally for _, tally in named[keep:]] + [t for s, t in tallies.items() if s == OTHER_SOURCES]
        if rest:
            merged = Tally(sources=0)
            for tally in rest:
                merged.add(tally)
            written[OTHER_SOURCES] = merged
        return written


class AuthFailures:
    """The back-off and the ledger of one REST app, and the task that writes the ledger."""

    def __init__(self, ctx: Context, policy: RestPolicy) -> None:
        self.ctx = ctx
        self.policy = policy
        self.backoff = SourceBackoff(policy)
        self.ledger = FailureLedger(policy)

    def write_audit(self) -> int:
        """Write what the ledger holds; the number of entries written."""
        tallies = self.ledger.drain()
        if not tallies:
            return 0
        with session_scope(self.ctx.engine) as session:
            for source, tally in tallies.items():
                assert tally.first is not None and tally.last is not None
                detail = {"failures": tally.failures, "throttled": tally.throttled,
                          "first": tally.first.isoformat(), "last": tally.last.isoformat()}
                if source == OTHER_SOURCES:
                    detail["sources"] = tally.sources
                audit.append(session, actor=f"source:{source}", action=AUDIT_ACTION, target="api token",
                             outcome=audit.Outcome.REFUSED, detail=detail)
        return len(tallies)

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        """Write the ledger every interval while the app runs, and once more when it stops."""
        async def loop() -> None:
            while True:
                await asyncio.sleep(self.policy.auth_audit_interval_seconds)
                await self._write_logged()

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self._write_logged()

    async def _write_logged(self) -> None:
        try:
            await asyncio.to_thread(self.write_audit)
        except Exception:  # noqa: BLE001 - the tallies of one interval are lost, the API goes on
            log.exception("could not audit failed token authentications")
