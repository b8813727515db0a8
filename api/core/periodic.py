"""Blocking upkeep run on a worker thread at start and then at a fixed interval (retention passes)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("chargeca.retention")


async def every(interval: float, work: Callable[[], Any], what: str) -> None:
    """``work()`` now, then every ``interval`` seconds, until cancelled. A failed pass is logged
    and retried at the next interval: upkeep must never stop for one bad pass."""
    while True:
        try:
            await asyncio.to_thread(work)
        except Exception:  # noqa: BLE001 - retried at the next interval
            log.exception("%s failed; retrying in %d s", what, interval)
        await asyncio.sleep(interval)
