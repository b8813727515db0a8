"""Customer information kept within the [customer_information] policy: a periodic pass deletes
the requests older than ``retention_days`` with the data stations reported for them."""

from __future__ import annotations

import logging
from datetime import timedelta

from api.core.context import Context
from api.core.periodic import every
from api.csms.customer_information import service
from storage.db import session_scope

log = logging.getLogger("chargeca.retention")


def prune_customer_information(ctx: Context) -> int:
    """One pass, blocking; returns how many requests went."""
    policy = ctx.policy.customer_information
    with session_scope(ctx.engine) as session:
        deleted = service.prune(session, older_than=timedelta(days=policy.retention_days))
    if deleted:
        log.info("deleted %d customer information requests older than %d days, with their data", deleted,
                 policy.retention_days)
    return deleted


async def run_customer_information_retention(ctx: Context, interval: float | None = None) -> None:
    interval = interval or ctx.policy.customer_information.prune_interval_minutes * 60
    await every(interval, lambda: prune_customer_information(ctx), "pruning customer information")
