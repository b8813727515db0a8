"""Security events kept through a database outage, and the writer that stores them after.

A station's SecurityEventNotification is acknowledged once its event is stored: in the database,
or, while the database is unavailable, in a bounded local spool (storage/spool.py) that is
fsynced before the answer leaves. The writer stores spooled events as soon as the database takes
them again, each as it would have been stored at once, including the renewal a discarded
certificate starts (A02.FR.07/29).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from api.core.context import Context
from api.core.failure_log import FailureLog
from api.csms.outbox import signal as outbox_signal
from api.csms.security.renewal import RENEW_AGAIN_EVENTS, renew_after_station_event
from storage.db import DatabaseUnavailable, session_scope
from storage.security_events import SecurityEvent
from storage.spool import Spool
from storage.types import utcnow

log = logging.getLogger("chargeca.ocpp.spool")

SPOOL_FILE = "spool/security-events.jsonl"
_COLUMNS = ("station_id", "source", "type", "tech_info", "critical")


def open_spool(ctx: Context) -> Spool:
    return Spool(ctx.settings.data_dir / SPOOL_FILE, ctx.policy.outage.max_spooled_events)


def as_entry(event: SecurityEvent) -> dict[str, Any]:
    return {**{name: getattr(event, name) for name in _COLUMNS},
            "occurred_at": event.occurred_at.isoformat(), "received_at": event.received_at.isoformat()}


def _event(entry: dict[str, Any]) -> SecurityEvent:
    return SecurityEvent(**{name: entry[name] for name in _COLUMNS},
                         occurred_at=datetime.fromisoformat(entry["occurred_at"]),
                         received_at=datetime.fromisoformat(entry["received_at"]))


def store_spooled(ctx: Context, entries: list[dict[str, Any]]) -> bool:
    """Store spooled events in one transaction; whether a renewal was queued."""
    renewed = False
    with session_scope(ctx.engine) as session:
        for entry in entries:
            event = _event(entry)
            session.add(event)
            if event.source == "station" and event.type in RENEW_AGAIN_EVENTS:
                renewed |= renew_after_station_event(session, event.station_id, event.type, policy=ctx.policy,
                                                     now=utcnow()) is not None
    return renewed


class SpoolWriter:
    def __init__(self, ctx: Context, spool: Spool) -> None:
        self._ctx = ctx
        self._spool = spool
        self._task: asyncio.Task | None = None

    def start(self) -> "SpoolWriter":
        self._task = asyncio.create_task(self._run(), name="security-event-spool")
        return self

    async def write_now(self) -> int:
        """Store what is spooled; the number stored (0 while the database is still away)."""
        if not len(self._spool):
            return 0
        renewed: list[bool] = []
        try:
            written = await asyncio.to_thread(self._spool.drain,
                                              lambda entries: renewed.append(store_spooled(self._ctx, entries)))
        except DatabaseUnavailable:
            return 0
        log.info("stored %d security events kept while the database was unavailable", written)
        if any(renewed):
            outbox_signal.ring()
        return written

    async def _run(self) -> None:
        failures = FailureLog(log, "storing spooled security events")
        while True:
            await failures.attempt(self.write_now)   # a failed round's events stay in the spool
            await asyncio.sleep(self._ctx.policy.outage.retry_seconds)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
