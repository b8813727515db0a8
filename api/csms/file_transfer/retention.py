"""Grants do not outlive their use: expired ones are deleted ``keep_expired_grants_days`` after
expiry, FTP homes (links to stored files) as soon as their grant expired, and uploads a crash left
half-received after a day. Received files belong to the block that asked for them (logs keep
theirs by the [logs] policy)."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from sqlmodel import delete, select

from api.core.context import Context
from api.core.periodic import every
from api.csms.file_transfer.store import FileStore
from storage.db import session_scope
from storage.file_transfer import FileGrant
from storage.types import utcnow

log = logging.getLogger("chargeca.retention")

_STALE_PART_SECONDS = 24 * 3600


def prune_file_grants(ctx: Context, store: FileStore) -> int:
    """One pass, blocking; how many grants were deleted."""
    now = utcnow()
    keep = timedelta(days=ctx.policy.file_transfer.keep_expired_grants_days)
    live_homes = {path.name for path in store.ftp_homes.iterdir()}
    with session_scope(ctx.engine) as session:
        expired_homes = set(session.exec(select(FileGrant.id).where(
            FileGrant.id.in_(live_homes), FileGrant.expires_at <= now)).all()) if live_homes else set()
        known = set(session.exec(select(FileGrant.id).where(FileGrant.id.in_(live_homes))).all()) \
            if live_homes else set()
        deleted = session.exec(delete(FileGrant).where(FileGrant.expires_at <= now - keep)).rowcount
    for grant_id in expired_homes | (live_homes - known):
        store.remove_ftp_home(grant_id)
    for part in store.incoming.glob("*.part"):
        if part.stat().st_mtime < time.time() - _STALE_PART_SECONDS:
            part.unlink(missing_ok=True)
    if deleted:
        log.info("deleted %d expired file grants", deleted)
    return deleted


async def run_file_grant_retention(ctx: Context, store: FileStore, interval: float | None = None) -> None:
    interval = interval or ctx.policy.file_transfer.prune_interval_minutes * 60
    await every(interval, lambda: prune_file_grants(ctx, store), "pruning file grants")
