"""Events kept within the [monitoring] policy: a periodic pass deletes those received more than
``event_retention_days`` ago (the bound per station holds on every write)."""

from __future__ import annotations

from datetime import timedelta

from api.core.context import Context
from api.core.periodic import every, pruned
from api.csms.monitoring import service


def prune_station_events(ctx: Context) -> int:
    """One pass, blocking; returns how many events went."""
    days = ctx.policy.monitoring.event_retention_days
    return pruned(ctx.engine, lambda session: service.prune_events(session, older_than=timedelta(days=days)),
                  f"station events older than {days} days")


async def run_station_event_retention(ctx: Context, interval: float | None = None) -> None:
    await every(interval or ctx.policy.monitoring.prune_interval_minutes * 60, lambda: prune_station_events(ctx),
                "pruning station events")
