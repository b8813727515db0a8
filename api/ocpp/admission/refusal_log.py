"""Refused connections, aggregated: one security-event row and one log line per (source address,
rule) and window, carrying the count, at a bounded rate whatever a client sends.

``note`` is called on the event loop for each refusal and only counts in memory. The first
refusal of a (source, rule) pair is written and logged at once (an operator sees it without
delay), within the rows/lines budget; the ones after it only raise the counter, which ``flush``
(every ``flush_interval``, and when the listeners stop) writes into the same row and sums up in
one log line. A pair's row covers ``window`` seconds; a pair still refused after that gets a new
row. Pairs beyond ``max_entries`` share one aggregate per rule ("other sources"). What the budget
holds back stays in memory, counted, until a later flush has room.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from api.core.failure_log import FailureLog
from api.core.token_bucket import TokenBucket
from api.ocpp import metrics
from policies.model import AdmissionPolicy
from storage.types import utcnow

log = logging.getLogger("chargeca.ocpp.admission")

OTHER_SOURCES = "(other sources)"
_IDENTITIES_SHOWN = 3
_TECH_INFO_MAX = 255


@dataclass(frozen=True)
class RefusalLogSettings:
    window: float = 300.0
    rows_per_minute: int = 60
    lines_per_minute: int = 60
    flush_interval: float = 10.0
    max_entries: int = 10_000

    @classmethod
    def from_policy(cls, policy: AdmissionPolicy) -> "RefusalLogSettings":
        return cls(window=policy.refusal_window_seconds, rows_per_minute=policy.refusal_rows_per_minute,
                   lines_per_minute=policy.refusal_log_lines_per_minute,
                   flush_interval=policy.refusal_flush_seconds, max_entries=policy.tracked_sources)


@dataclass(frozen=True)
class RefusalRecord:
    """What one refusal says; never a secret."""

    event_type: str
    rule: str
    reason: str
    status: int | None = None      # the HTTP status answered; None: no HTTP answer (TLS, socket)
    critical: bool = False


@dataclass(frozen=True)
class RefusalRow:
    """One aggregate as the store writes it: ``row_id`` None inserts, otherwise updates."""

    row_id: int | None
    station_id: str | None
    event_type: str
    source_address: str | None
    first_seen: datetime
    last_seen: datetime
    occurrences: int
    tech_info: str
    critical: bool


class RefusalStore(Protocol):
    def write_refusals(self, rows: Sequence[RefusalRow]) -> list[int]:
        """Insert or update the rows in one transaction; the row ids, in order. Blocking."""


@dataclass
class _Aggregate:
    source: str | None
    refusal: RefusalRecord
    opened: float
    first_seen: datetime
    last_seen: datetime
    identities: list[str] = field(default_factory=list)
    many_identities: bool = False
    count: int = 0
    written: int = 0          # occurrences the row holds
    logged: int = 0           # occurrences a log line has reported
    row_id: int | None = None

    def add(self, identity: str | None, refusal: RefusalRecord, now: datetime) -> None:
        self.count += 1
        self.last_seen = now
        self.refusal = refusal   # the latest reason stands for the row
        if identity and identity not in self.identities:
            if len(self.identities) < _IDENTITIES_SHOWN:
                self.identities.append(identity)
            else:
                self.many_identities = True

    @property
    def station_id(self) -> str | None:
        return self.identities[0][:48] if len(self.identities) == 1 and not self.many_identities else None

    def describe(self) -> str:
        refusal = self.refusal
        text = f"{refusal.rule}: {refusal.reason}"
        if self.source:
            text += f" (from {self.source})"
        if len(self.identities) > 1 or self.many_identities:
            text += " identities " + ", ".join(repr(i) for i in self.identities) + (", ..." if self.many_identities else "")
        return text[:_TECH_INFO_MAX]

    def row(self) -> RefusalRow:
        return RefusalRow(self.row_id, self.station_id, self.refusal.event_type, self.source, self.first_seen,
                          self.last_seen, self.count, self.describe(), self.refusal.critical)


class RefusalLog:
    def __init__(self, store: RefusalStore, settings: RefusalLogSettings | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or RefusalLogSettings()
        self._store = store
        self._clock = clock
        self._open: dict[tuple[str | None, str], _Aggregate] = {}
        self._closed: list[_Aggregate] = []      # windows over, not yet fully written
        self._rows = TokenBucket(self.settings.rows_per_minute, clock)
        self._lines = TokenBucket(self.settings.lines_per_minute, clock)
        self._suppressed_lines = 0
        self._lock = asyncio.Lock()
        # Running totals for a metrics collector: refusals by rule, and what was written.
        self.counts: Counter[str] = Counter()
        self.rows_written = 0
        self.lines_logged = 0

    # --- on the event loop, per refusal ------------------------------------------------------

    def note(self, source: str | None, identity: str | None, refusal: RefusalRecord) -> bool:
        """Count one refusal. True when it opened a row that may be written at once (the caller
        then awaits ``flush(new_only=True)``)."""
        self.counts[refusal.rule] += 1
        metrics.admission_refused(refusal.rule)
        now, tick = utcnow(), self._clock()
        key = (source, refusal.rule)
        aggregate = self._open.get(key)
        if aggregate is not None and tick - aggregate.opened >= self.settings.window:
            self._closed.append(self._open.pop(key))
            aggregate = None
        if aggregate is None:
            if len(self._open) >= self.settings.max_entries:
                key = (OTHER_SOURCES, refusal.rule)
                aggregate = self._open.get(key)
            if aggregate is None:
                aggregate = self._open[key] = _Aggregate(key[0], refusal, tick, now, now)
        aggregate.add(identity, refusal, now)
        if aggregate.count > 1:
            return False
        self._log_first(aggregate, identity)
        return True

    def _log_first(self, aggregate: _Aggregate, identity: str | None) -> None:
        if not self._lines.take():
            self._suppressed_lines += 1
            return
        status = aggregate.refusal.status
        answered = f"{status}" if status is not None else "closed"
        log.warning("refused OCPP connection of %r: %s %s", identity, answered, aggregate.describe())
        aggregate.logged = aggregate.count
        self.lines_logged += 1

    # --- writing ----------------------------------------------------------------------------------

    async def flush(self, *, new_only: bool = False) -> None:
        """Write what changed, within the rows budget; log the counts since the last line.
        ``new_only``: only rows not written yet (the at-once path of ``note``)."""
        async with self._lock:
            if not new_only:
                self._summarise()
            rows, owners = self._due(new_only)
            if rows:
                # Once sent, the write completes and its row ids are kept even if this flush is
                # cancelled (the listeners stopping): otherwise the next flush would insert the
                # same aggregates again.
                write = asyncio.ensure_future(asyncio.to_thread(self._store.write_refusals, rows))
                try:
                    ids = await asyncio.shield(write)
                except asyncio.CancelledError:
                    self._written(owners, rows, await write)
                    raise
                self._written(owners, rows, ids)
            if not new_only:
                self._closed = [a for a in self._closed if a.written < a.count]
                self._retire()

    @staticmethod
    def _written(owners: list[_Aggregate], rows: list[RefusalRow], ids: list[int]) -> None:
        for aggregate, row, row_id in zip(owners, rows, ids):
            aggregate.row_id = row_id
            aggregate.written = row.occurrences

    def _due(self, new_only: bool) -> tuple[list[RefusalRow], list[_Aggregate]]:
        rows, owners = [], []
        for aggregate in (*self._closed, *self._open.values()):
            if aggregate.written == aggregate.count:
                continue
            if aggregate.row_id is None:
                if not self._rows.take():
                    continue
            elif new_only:
                continue
            rows.append(aggregate.row())
            owners.append(aggregate)
        return rows, owners

    def _summarise(self) -> None:
        for aggregate in (*self._closed, *self._open.values()):
            more = aggregate.count - aggregate.logged
            if more <= 0:
                continue
            if not self._lines.take():
                self._suppressed_lines += 1
                continue
            log.warning("refused %d more OCPP connection(s) since %s: %s", more,
                        aggregate.first_seen.isoformat(timespec="seconds"), aggregate.describe())
            aggregate.logged = aggregate.count
            self.lines_logged += 1
        if self._suppressed_lines:
            log.warning("%d refusal log line(s) held back by [admission] refusal_log_lines_per_minute; "
                        "their counts are in the security events", self._suppressed_lines)
            self._suppressed_lines = 0
            self.lines_logged += 1

    def _retire(self) -> None:
        tick = self._clock()
        for key, aggregate in list(self._open.items()):
            if tick - aggregate.opened >= self.settings.window and aggregate.written == aggregate.count:
                del self._open[key]

    async def run(self) -> None:
        """Flush every ``flush_interval`` until cancelled."""
        failures = FailureLog(log, "writing the refused-connection records")
        while True:
            await asyncio.sleep(self.settings.flush_interval)
            await failures.attempt(self.flush)   # counting goes on; the next flush tries again

    def __len__(self) -> int:
        return len(self._open) + len(self._closed)
