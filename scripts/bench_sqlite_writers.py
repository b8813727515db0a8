#!/usr/bin/env python3
"""A burst of writers in one process, on SQLite: queued on our lock against SQLite's busy handler.
Prints numbers; asserts nothing.

    .venv/bin/python scripts/bench_sqlite_writers.py [--threads 40] [--writes 10] [--hold-ms 0.5]

Each of --threads threads (as many as the REST API's worker threads) makes --writes small write
transactions at once, each holding the write lock --hold-ms (a unit of work's own time). The same
burst runs with the connections ChargeCA makes (storage/sqlite_writers.py: the next writer starts
as the last one ends) and, as the reference in the same run, with SQLite's own busy handler alone
(a waiting writer sleeps 1, 2, 5 … 100 ms between tries). Prints the burst's wall time and each
transaction's wait for the lock (p50, p99, max).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

import storage.db as db  # noqa: E402
from storage.sqlite_writers import WriterQueuedConnection  # noqa: E402


class BusyHandlerOnly(sqlite3.Connection):
    """The reference: BEGIN IMMEDIATE waits in SQLite's busy handler only."""

    def begin_writing(self) -> None:
        self.execute("BEGIN IMMEDIATE")


def burst(factory: type[sqlite3.Connection], folder: Path, threads: int, writes: int,
          hold: float) -> tuple[float, list[float]]:
    engine = create_engine(f"sqlite:///{folder / (factory.__name__ + '.db')}", pool_size=threads,
                           connect_args={"check_same_thread": False, "timeout": 30, "factory": factory})
    db._configure_sqlite(engine)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    waits: list[float] = []
    start = threading.Barrier(threads)

    def writer() -> None:
        start.wait()
        for _ in range(writes):
            asked = time.perf_counter()
            with engine.begin() as connection:
                waits.append(time.perf_counter() - asked)
                connection.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": "x" * 200})
                time.sleep(hold)

    workers = [threading.Thread(target=writer) for _ in range(threads)]
    began = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - began
    engine.dispose()
    return wall, sorted(waits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=40)
    parser.add_argument("--writes", type=int, default=10, help="write transactions per thread")
    parser.add_argument("--hold-ms", type=float, default=0.5, help="how long each holds the write lock")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    total = args.threads * args.writes
    print(f"SQLite {sqlite3.sqlite_version}; {args.threads} threads x {args.writes} write transactions, "
          f"each holding the lock {args.hold_ms:g} ms")
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):
            here = Path(folder) / str(round_)
            here.mkdir()
            for factory, name in ((BusyHandlerOnly, "SQLite's busy handler (reference)"),
                                  (WriterQueuedConnection, "queued (as deployed)")):
                wall, waits = burst(factory, here, args.threads, args.writes, args.hold_ms / 1000)
                print(f"{name:34s}: {total} writes in {wall * 1000:6.0f} ms; wait for the lock p50 "
                      f"{waits[len(waits) // 2] * 1000:6.1f} ms  p99 {waits[int(len(waits) * 0.99)] * 1000:6.1f} ms  "
                      f"max {waits[-1] * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
