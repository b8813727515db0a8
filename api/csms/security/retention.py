"""Security events are kept within the [security_events] policy: a periodic task deletes those
older than ``retention_days`` and the oldest beyond ``max_rows``, so that nothing a client can
make us record grows the database without end."""

from __future__ import annotations

import logging
from datetime import timedelta

from api.core.context import Context
from api.core.periodic import every
from storage.db import session_scope
from storage.security_events import prune

log = logging.getLogger("chargeca.retention")


def prune_security_events(ctx: Context) -> int:
    """One pass, blocking; returns how many events were deleted."""
    policy = ctx.policy.security_events
    with session_scope(ctx.engine) as session:
        deleted = prune(session, older_than=timedelta(days=policy.retention_days), max_rows=policy.max_rows)
    if deleted:
        log.info("deleted %d security events beyond the retention policy (%d days, %d rows)", deleted,
                 policy.retention_days, policy.max_rows)
    return deleted


async def run_security_event_retention(ctx: Context, interval: float | None = None) -> None:
    """Prune soon after start (api/core/periodic.py), then every ``interval`` seconds (the
    policy's by default), until cancelled."""
    interval = interval or ctx.policy.security_events.prune_interval_minutes * 60
    await every(interval, lambda: prune_security_events(ctx), "pruning security events")
