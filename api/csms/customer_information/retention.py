"""Customer information kept within the [customer_information] policy: a periodic pass deletes
the requests older than ``retention_days`` with the data stations reported for them."""

from __future__ import annotations

from datetime import timedelta

from api.core.context import Context
from api.core.periodic import every, pruned
from api.csms.customer_information import service


def prune_customer_information(ctx: Context) -> int:
    """One pass, blocking; returns how many requests went (their data with them)."""
    days = ctx.policy.customer_information.retention_days
    return pruned(ctx.engine, lambda session: service.prune(session, older_than=timedelta(days=days)),
                  f"customer information requests older than {days} days, with their data")


async def run_customer_information_retention(ctx: Context, interval: float | None = None) -> None:
    await every(interval or ctx.policy.customer_information.prune_interval_minutes * 60,
                lambda: prune_customer_information(ctx), "pruning customer information")
