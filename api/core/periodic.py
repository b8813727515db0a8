"""Blocking upkeep run on a worker thread soon after start and then at a fixed interval (retention passes)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from api.core.failure_log import FailureLog
from storage.db import session_scope

log = logging.getLogger("chargeca.retention")


# A restart is followed by every station reconnecting at once; retention deletes then would take
# the database from that boot storm (and each worker of `serve --workers` would run them together).
# Nothing is owed at start: what aged out while the service was down waits one minute more.
FIRST_PASS_AFTER = 60.0


async def every(interval: float, work: Callable[[], Any], what: str, *, first_after: float | None = None) -> None:
    """``work()`` after ``first_after`` seconds (by default the interval or ``FIRST_PASS_AFTER``,
    whichever is shorter), then every ``interval`` seconds, until cancelled. A failed pass is
    logged and retried at the next interval: upkeep must never stop for one bad pass."""
    await asyncio.sleep(min(interval, FIRST_PASS_AFTER) if first_after is None else first_after)
    failures = FailureLog(log, what)
    while True:
        await failures.attempt(lambda: asyncio.to_thread(work))   # retried at the next interval
        await asyncio.sleep(interval)


def pruned(engine: Any, work: Callable[[Any], int], what: str) -> int:
    """One retention pass, blocking, in one transaction: ``work(session)`` deletes and says how
    many rows went; a pass that deleted something says so in the log."""
    with session_scope(engine) as session:
        deleted = work(session)
    if deleted:
        log.info("deleted %d %s", deleted, what)
    return deleted
