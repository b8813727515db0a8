"""The message log is kept within the [message_log] policy: a periodic task deletes frames older
than ``retention_days`` and the oldest beyond ``max_rows``, chunk by chunk (storage/message_log.py)."""

from __future__ import annotations

import functools
import logging
from datetime import timedelta

from api.core.context import Context
from api.core.periodic import every
from storage.db import session_scope
from storage.message_log import message_log_engine, prune

log = logging.getLogger("chargeca.retention")


def prune_message_log(ctx: Context) -> int:
    """One pass, blocking; returns how many frames were deleted."""
    policy = ctx.policy.message_log
    deleted = prune(functools.partial(session_scope, message_log_engine(ctx.engine)),
                    older_than=timedelta(days=policy.retention_days), max_rows=policy.max_rows)
    if deleted:
        log.info("deleted %d logged OCPP frames beyond the retention policy (%d days, %d rows)", deleted,
                 policy.retention_days, policy.max_rows)
    return deleted


async def run_message_log_retention(ctx: Context, interval: float | None = None) -> None:
    """Prune soon after start (api/core/periodic.py), then every ``interval`` seconds (the
    policy's by default), until cancelled. Runs with the log turned off too: what an earlier run
    kept still ages out."""
    interval = interval or ctx.policy.message_log.prune_interval_minutes * 60
    await every(interval, lambda: prune_message_log(ctx), "pruning the message log")
