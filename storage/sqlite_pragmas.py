"""The PRAGMAs every connection of ours to a SQLite file sets: storage/db.py's engines, and the
message log's writer process (api/ocpp/message_log/writer_helper.py), which imports no SQLAlchemy
and so cannot take them from the engine. One list, so that the two cannot drift apart (they had:
the writer process checkpointed at SQLite's default 1,000 pages, the log's engine at 200).
"""

from __future__ import annotations

# SQLite copies the WAL back into the database (a checkpoint) on the commit that takes the WAL
# past this many pages, in the committing thread: every writer queued behind that commit waits for
# it. SQLite's default, 1,000 pages, made a checkpoint every quarter second at a charging fleet's
# thousand TransactionEvents a second (each dirties ~4 pages: its transaction's row and the index
# leaves of its station and transaction), and the events behind each one waited. Alternating runs
# of scripts/bench_gateway.py --only-charging --repeat 2 (docs/benchmarks.md, "Charging phase"), p99 per round:
# 1,000 pages 11.6-13.9 ms (9 rounds), 200 pages 8.9-13.0 ms (9 rounds, 8 of them under 11), with no
# more CPU; 300 pages 10.2-11.2 ms, 100 pages 8.7-10.4 ms, 50 pages 10.2-11.9 ms, 10,000 pages 30-51 ms.
# That is for a process writing alone (CLI commands, scripts): a serving process checkpoints from a
# thread of its own, which no writer waits for (storage/wal_checkpointer.py).
WAL_AUTOCHECKPOINT_PAGES = 200


def connection_pragmas(checkpoint_on_commit_pages: int = WAL_AUTOCHECKPOINT_PAGES) -> tuple[str, ...]:
    """``PRAGMA`` arguments, in the order they are set."""
    return ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=30000", "synchronous=NORMAL",
            f"wal_autocheckpoint={checkpoint_on_commit_pages}")
