#!/usr/bin/env python3
"""What storing a charging fleet's TransactionEvents costs the database thread, in-process, on
SQLite or PostgreSQL. Prints numbers; asserts nothing.

    .venv/bin/python scripts/bench_transaction_writes.py [--transactions 1000] [--events 8000]
        [--database-url postgresql://postgres@127.0.0.1:5432/test]

The events are those of scripts/bench_gateway.py's charging phase (Updated, 4 sampled values),
stored as the server stores them: groups of stations' events through ``answer_events`` (one
multi-row statement per table, the summaries kept between events), one transaction per group,
with the WAL checkpointed as the server does. For groups of 1, 3, 8 and 50 events (at 1,000
events/s, an event that waits for its answer goes in a group of 2-3 after the 2 ms gather; the
Updated events answered once journaled go in groups of ~50, the 50 ms of write_behind_ms), it
prints the CPU per event and the pages each commit writes to the WAL; then the CPU with each
index of meter_reading dropped in turn, which says what each costs. A Heartbeat writes nothing
of its own: these pages, and the commit that writes them, are what a TransactionEvent costs
beyond it. On PostgreSQL (a scratch database beside the one named, dropped after) the CPU is this
process's, the client's: what the server's database threads spend; PostgreSQL's own is not in it,
nor in the server's.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from gateway_load import _Session  # noqa: E402 - the load generator's own events
from scratch_database import scratch_database  # noqa: E402

import storage.db as db  # noqa: E402
from api.csms.transactions.handlers import Item, answer_events, read_event, remember  # noqa: E402

WAL_FRAME = 4096 + 24   # a page and its frame header
INDEXES = ("ix_meter_reading_station_sampled", "ix_meter_reading_transaction", "ix_meter_reading_received_at")


class Fleet:
    """``transactions`` stations, one running transaction each, their events stored in groups."""

    def __init__(self, folder: Path, transactions: int, drop: tuple[str, ...] = (),
                 checkpoint_pages: int = db.WAL_AUTOCHECKPOINT_PAGES, url: str | None = None) -> None:
        """``url``: a PostgreSQL database to fill (empty); otherwise SQLite in ``folder``."""
        self.path = folder / "bench.db"
        url = url or f"sqlite:///{self.path}"
        db.migrate(url)
        self.engine = db.make_engine(url, checkpoint_on_commit_pages=checkpoint_pages)
        with self.engine.begin() as connection:
            for index in drop:
                connection.exec_driver_sql(f"DROP INDEX {index}")
        self.sessions = [_Session(f"tx-{n}") for n in range(transactions)]
        self.known: list[dict] = [{} for _ in range(transactions)]
        self.next = 0
        self.store(self.groups(transactions, 8))   # every transaction Started

    def groups(self, events: int, size: int) -> list[list[Item]]:
        """The next ``events`` events, round robin over the stations, in groups of ``size``."""
        made = []
        for _ in range(0, events, size):
            group = []
            for _ in range(size):
                at = self.next % len(self.sessions)
                self.next += 1
                session = self.sessions[at]
                payload = json.loads(session.event("Started" if session.seq_no == 0 else "Updated",
                                                   "MeterValuePeriodic")[0])
                group.append((f"BENCH-{at:05d}", read_event(payload), payload, self.known[at]))
            made.append(group)
        return made

    def store(self, groups: list[list[Item]]) -> None:
        """As the server's write-behind store does (storage/write_behind.py): a group in one
        transaction, then what the connections keep of it."""
        for group in groups:
            with db.session_scope(self.engine) as session:
                results = answer_events(session, group)
            for item, result in zip(group, results, strict=True):
                remember(item, result)

    def wal_bytes(self) -> int:
        wal = self.path.with_name(self.path.name + "-wal")
        return wal.stat().st_size if wal.exists() else 0


def cpu_per_event(fleet: Fleet, events: int, size: int) -> float:
    groups = fleet.groups(events, size)
    started = time.process_time()
    fleet.store(groups)
    return (time.process_time() - started) / (len(groups) * size)


def on_postgresql(url: str, transactions: int, events: int) -> None:
    for size in (1, 3, 8, 50):
        with tempfile.TemporaryDirectory() as folder, scratch_database(url) as scratch:
            fleet = Fleet(Path(folder), transactions, url=scratch)
            cpu = cpu_per_event(fleet, events, size)
            fleet.engine.dispose()
        print(f"groups of {size}: {cpu * 1e6:6.0f} µs of the client's CPU per event")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=1000, help="stations, each charging")
    parser.add_argument("--events", type=int, default=8000, help="events measured per line")
    parser.add_argument("--database-url", help="postgresql://… server (a scratch database is made there); "
                                               "default: SQLite in a temporary directory")
    args = parser.parse_args()
    if args.database_url:
        print(f"PostgreSQL; {args.transactions} transactions, "
              f"{args.events} TransactionEvent Updated (4 sampled values) per line")
        on_postgresql(args.database_url, args.transactions, args.events)
        return
    print(f"SQLite {sqlite3.sqlite_version}; {args.transactions} transactions, "
          f"{args.events} TransactionEvent Updated (4 sampled values) per line")
    for size in (1, 3, 8, 50):
        with tempfile.TemporaryDirectory() as folder:
            fleet = Fleet(Path(folder), args.transactions)
            cpu = cpu_per_event(fleet, args.events, size)
        # Pages per commit, with the checkpoint held off so that the WAL only grows.
        with tempfile.TemporaryDirectory() as folder:
            fleet = Fleet(Path(folder), args.transactions, checkpoint_pages=0)
            before = fleet.wal_bytes()
            groups = fleet.groups(args.events, size)
            fleet.store(groups)
            pages = (fleet.wal_bytes() - before) / WAL_FRAME / len(groups)
        print(f"groups of {size}: {cpu * 1e6:6.0f} µs CPU per event; {pages:5.1f} WAL pages per commit "
              f"({pages / size:.1f} per event)")
    reference = None
    for drop in ((), *((index,) for index in INDEXES), INDEXES):
        with tempfile.TemporaryDirectory() as folder:
            cpu = cpu_per_event(Fleet(Path(folder), args.transactions, drop), args.events, 3)
        if reference is None:
            reference = cpu
            print(f"groups of 3, every index (as deployed): {cpu * 1e6:4.0f} µs per event")
        else:
            print(f"groups of 3 without {' and '.join(drop)}: {cpu * 1e6:4.0f} µs per event "
                  f"({(cpu - reference) * 1e6:+.0f} µs)")

if __name__ == "__main__":
    main()
