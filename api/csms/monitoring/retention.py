"""Events kept within the [monitoring] policy: a periodic pass deletes those received more than
``event_retention_days`` ago (the bound per station holds on every write)."""

from __future__ import annotations

import logging
from datetime import timedelta

from api.core.context import Context
from api.core.periodic import every
from api.csms.monitoring import service
from storage.db import session_scope

log = logging.getLogger("chargeca.retention")


def prune_station_events(ctx: Context) -> int:
    """One pass, blocking; returns how many events went."""
    policy = ctx.policy.monitoring
    with session_scope(ctx.engine) as session:
        deleted = service.prune_events(session, older_than=timedelta(days=policy.event_retention_days))
    if deleted:
        log.info("deleted %d station events older than %d days", deleted, policy.event_retention_days)
    return deleted


async def run_station_event_retention(ctx: Context, interval: float | None = None) -> None:
    interval = interval or ctx.policy.monitoring.prune_interval_minutes * 60
    await every(interval, lambda: prune_station_events(ctx), "pruning station events")
