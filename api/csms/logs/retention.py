"""Log files and their requests kept within the [logs] policy (retention_days, max_files_per_station);
the files leave the disk after the rows that name them are gone."""

from __future__ import annotations

import logging

from api.core.context import Context
from api.core.periodic import every
from api.csms.logs import service
from storage.db import session_scope

log = logging.getLogger("chargeca.retention")


def prune_logs(ctx: Context) -> int:
    """One pass, blocking; how many log files were deleted."""
    with session_scope(ctx.engine) as session:
        paths = service.prune(session, ctx.policy.logs, ctx.settings.data_dir)
    for path in paths:
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()   # the grant's directory, empty now
        except OSError:
            pass
    if paths:
        log.info("deleted %d log files beyond the [logs] policy", len(paths))
    return len(paths)


async def run_log_retention(ctx: Context, interval: float = 3600) -> None:
    await every(interval, lambda: prune_logs(ctx), "pruning log files")
