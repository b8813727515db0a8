#!/usr/bin/env python3
"""What a journal's fdatasync costs (storage/journal.py), with the entries written at the sync over
zeros written ahead (``written_at_sync``, where ChargeCA syncs: PostgreSQL) and without (each
entry appended as it comes, the file growing with it). Prints numbers; asserts nothing.

    .venv/bin/python scripts/bench_journal_sync.py [--entries 2000] [--rounds 3] [--dir DATA]

Each round writes ``--entries`` entries of an Updated TransactionEvent's size, each followed by
its sync (the worst case: the gateway shares a sync among the entries of 2 ms), both ways in
turn, in a directory on the disk the journal lives on (``--dir``; default: the working directory).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage.journal import Journal  # noqa: E402

BODY = '{"pad":"' + "x" * 680 + '"}'   # an Updated with 4 sampled values is ~700 bytes as a journal entry


def per_sync(folder: Path, entries: int, written_at_sync: bool) -> tuple[float, float]:
    """CPU and wall time per append-and-sync, in µs."""
    journal, _ = Journal.open(folder / f"journal-{written_at_sync}.jsonl", entries + 1, stored_through=0,
                              written_at_sync=written_at_sync)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(entries):
        journal.append(BODY)
        journal.sync()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    journal.close()
    return cpu / entries * 1e6, wall / entries * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path.cwd(), help="where the journals are written")
    args = parser.parse_args()
    print(f"{args.entries} entries of {len(BODY)} bytes, each synced, in {args.dir}")
    for round_no in range(1, args.rounds + 1):
        for written_at_sync in (False, True):
            with tempfile.TemporaryDirectory(dir=args.dir) as folder:
                cpu, wall = per_sync(Path(folder), args.entries, written_at_sync)
            how = "over zeros written ahead" if written_at_sync else "appended (the file grows)"
            print(f"round {round_no}: {how:26s} {cpu:5.0f} µs of CPU, {wall:5.0f} µs of wall time a sync")


if __name__ == "__main__":
    main()
