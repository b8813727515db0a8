"""Meter values kept within the [meter_values] policy: a periodic pass makes the PostgreSQL
partitions of the coming months and drops (or, on SQLite, deletes) what is older than the
retention (storage/partitions.py)."""

from __future__ import annotations

import logging
from datetime import datetime

from api.core.context import Context
from api.core.periodic import every
from storage.db import session_scope
from storage.partitions import Maintenance, maintain
from storage.types import utcnow

log = logging.getLogger("chargeca.retention")


def maintain_meter_values(ctx: Context, now: datetime | None = None) -> Maintenance:
    """One pass, blocking."""
    policy = ctx.policy.meter_values
    with session_scope(ctx.engine) as session:
        done = maintain(session, now=now or utcnow(), months_ahead=policy.partitions_ahead_months,
                        retention_days=policy.retention_days)
    if done.created or done.dropped or done.deleted_rows:
        log.info("meter values: partitions made %s, dropped %s; %d rows older than %d days deleted",
                 done.created, done.dropped, done.deleted_rows, policy.retention_days)
    return done


async def run_meter_value_maintenance(ctx: Context, interval: float | None = None) -> None:
    """A pass at start (the coming months' partitions are made before values arrive for them),
    then every ``interval`` seconds (the policy's by default), until cancelled."""
    interval = interval or ctx.policy.meter_values.maintenance_interval_minutes * 60
    await every(interval, lambda: maintain_meter_values(ctx), "meter value maintenance", first_after=0)
