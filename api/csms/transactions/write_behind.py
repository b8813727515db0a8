"""This process's store of TransactionEvents (storage/write_behind.py): an Updated event without an
idToken is answered once journaled (handlers.py says why), every other once stored; in order, in
groups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api.core.context import Context
from api.core.settings import GatewayConfig
from api.csms.transactions import service
from api.csms.transactions.handlers import answer_events, remember, restore
from storage.write_behind import Journaling, WriteBehind

JOURNAL_DIR = "journal"


def transaction_store(ctx: Context, config: GatewayConfig) -> WriteBehind[Any, Any]:
    """The journal is this node's own (one per node id: workers and nodes have their own), by
    default as durable as the database's commit (``GatewayConfig.write_behind_sync``): an
    fdatasync before the answer on PostgreSQL, whose commit has one; a write on SQLite, whose
    commit in WAL mode with synchronous=NORMAL has none."""
    node_id = ctx.settings.node_id
    journaling = Journaling(journal_path(ctx.settings.data_dir, node_id), f"transaction-events/{node_id}",
                            ctx.policy.outage.max_journaled_events, sync_to_disk=_sync_to_disk(ctx, config),
                            restore=restore, sync_in_process=config.write_behind_sync_in == "process")
    return WriteBehind(ctx.engine, answer_events, journaling=journaling, store_within=config.write_behind_ms / 1000,
                       gather=config.commit_gather_ms / 1000, on_stored=remember, retry_on=(service.StaleSummary,))


def _sync_to_disk(ctx: Context, config: GatewayConfig) -> bool:
    if config.write_behind_sync == "auto":
        return ctx.engine.dialect.name != "sqlite"
    return config.write_behind_sync == "fsync"


def journal_path(data_dir: Path, node_id: str) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in node_id)
    return data_dir / JOURNAL_DIR / f"transaction-events-{safe}.jsonl"
