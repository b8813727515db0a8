"""This process's store of TransactionEvents (storage/write_behind.py): an Updated event without an
idToken is answered once journaled (handlers.py says why), every other once stored; in order, in
groups.

Where the journal is synced before the answers (PostgreSQL), what each sync took is on /metrics:
a disk that syncs slowly makes every such answer late, and nothing else would say so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import Counter, Histogram

from api.core.context import Context
from api.core.settings import GatewayConfig
from api.csms.transactions import service
from api.csms.transactions.handlers import answer_events, remember, restore
from api.ocpp.metrics import EVENTS
from storage.shared_sync import SyncEnded
from storage.write_behind import Journaling, WriteBehind

JOURNAL_DIR = "journal"

_BUCKETS = (0.00025, 0.0005, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_sync = Histogram("chargeca_journal_sync_seconds", "Syncs of the TransactionEvent journal to disk, from asking "
                  "to done, as this process's event loop saw them: each answered the events journaled before it.",
                  buckets=_BUCKETS, registry=EVENTS)
_waited = Histogram("chargeca_journal_answer_wait_seconds", "For each TransactionEvent answer that waited for a "
                    "sync of the journal, how long it waited (for company, for a sync ahead, for its own): what the "
                    "disk added to the station's round trip.", buckets=_BUCKETS, registry=EVENTS)
_answers = Counter("chargeca_journal_sync_answers", "TransactionEvent answers released by the journal's syncs.",
                   registry=EVENTS)
_failed = Counter("chargeca_journal_sync_failures", "Syncs of the TransactionEvent journal that failed: the events "
                  "waiting for them were answered with a CALLERROR (the stations send them again) and are stored all "
                  "the same.", registry=EVENTS)


def observe_sync(ended: SyncEnded) -> None:
    _sync.observe(ended.took)
    for waited in ended.waited:
        _waited.observe(waited)
    _answers.inc(ended.waiters)
    if ended.failed:
        _failed.inc()


def transaction_store(ctx: Context, config: GatewayConfig) -> WriteBehind[Any, Any]:
    """The journal is this node's own (one per node id: workers and nodes have their own), by
    default as durable as the database's commit (``GatewayConfig.write_behind_sync``): an
    fdatasync before the answer on PostgreSQL, whose commit has one; a write on SQLite, whose
    commit in WAL mode with synchronous=NORMAL has none."""
    node_id = ctx.settings.node_id
    journaling = Journaling(journal_path(ctx.settings.data_dir, node_id), f"transaction-events/{node_id}",
                            ctx.policy.outage.max_journaled_events, sync_to_disk=_sync_to_disk(ctx, config),
                            restore=restore, sync_in_process=config.write_behind_sync_in == "process",
                            on_sync=observe_sync)
    return WriteBehind(ctx.engine, answer_events, journaling=journaling, store_within=config.write_behind_ms / 1000,
                       gather=config.commit_gather_ms / 1000, on_stored=remember, retry_on=(service.StaleSummary,))


def _sync_to_disk(ctx: Context, config: GatewayConfig) -> bool:
    if config.write_behind_sync == "auto":
        return ctx.engine.dialect.name != "sqlite"
    return config.write_behind_sync == "fsync"


def journal_path(data_dir: Path, node_id: str) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in node_id)
    return data_dir / JOURNAL_DIR / f"transaction-events-{safe}.jsonl"
