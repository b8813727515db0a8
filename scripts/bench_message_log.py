#!/usr/bin/env python3
"""The OCPP message log's CPU per frame, in one process, without sockets. Prints numbers; asserts nothing.

    .venv/bin/python scripts/bench_message_log.py [--frames 20000]

Splits a logged frame's cost into what the event loop pays (the session hands the frame to the
recorder: a quota check and a tuple queued) and what the background writer pays on its worker
thread (redaction and cut, then the batch insert into SQLite), for a Heartbeat CALL and its CALLRESULT and for
a frame that needs redaction (a TransactionEvent with an idToken). The best of 7 runs each, CPU
time of this process (user and system: SQLite's WAL page writes are the kernel's), inserts in
commits of the writer's batch, in the log's own file, into a table already holding 100,000 frames
of 1,000 stations (`--filled`: as many as a log kept for days holds). `scripts/bench_gateway.py
--message-log both` measures the same cost inside the gateway, where this machine's load makes it
noisier.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.ocpp import framing  # noqa: E402
from api.ocpp.framing import Call, CallResult  # noqa: E402
from api.ocpp.message_log.recorder import MessageLog  # noqa: E402
from policies.model import MessageLogPolicy  # noqa: E402
from storage.db import make_engine, migrate, session_scope  # noqa: E402
from storage.message_log import insert_rows, message_log_engine  # noqa: E402

FLUSH_ROWS = 8000  # the writer's batch once that many frames wait (api/ocpp/message_log/recorder.py)

TRANSACTION_EVENT = {"eventType": "Updated", "timestamp": "2025-01-01T00:00:00Z", "triggerReason": "MeterValuePeriodic",
                     "seqNo": 3, "transactionInfo": {"transactionId": "tx-1"},
                     "idToken": {"idToken": "04A2B3C4D5E6F7", "type": "ISO14443"},
                     "meterValue": [{"timestamp": "2025-01-01T00:00:00Z",
                                     "sampledValue": [{"value": 1234.5, "measurand": "Energy.Active.Import.Register"}]}]}


def best(work, count: int) -> float:
    """µs of CPU per item, the best of 7 runs."""
    runs = []
    for _ in range(7):
        started = time.process_time()
        work()
        runs.append(time.process_time() - started)
    return 1e6 * min(runs) / count


def measure(engine, frames: int, filled: int) -> list[str]:
    log = MessageLog(MessageLogPolicy(max_queued_frames=10 ** 9, max_frames_per_station_per_day=10 ** 9), None)
    stations = [f"CS-{i:05d}" for i in range(1000)]
    heartbeat, answer = Call("4b1c6f0e-3a5e-4f7e-9d0a-1c2b3d4e5f60", "Heartbeat", {}), \
        CallResult("4b1c6f0e-3a5e-4f7e-9d0a-1c2b3d4e5f60", {"currentTime": "2025-01-01T00:00:00.000Z"})
    event = Call("5c2d7f1e-4b6f-4a8e-8e1b-2d3c4e5f6a71", "TransactionEvent", TRANSACTION_EVENT)
    texts = {"heartbeat": framing.serialize(heartbeat), "answer": framing.serialize(answer),
             "event": framing.serialize(event)}

    async def on_the_loop() -> float:
        log._writer = asyncio.get_running_loop().create_future()  # noqa: SLF001 - no writer: the queue only
        def receive():
            log._queue.clear()  # noqa: SLF001
            for i in range(frames):
                log.received(stations[i % 1000], texts["heartbeat"], heartbeat, None)
        return best(receive, frames)

    loop_cost = asyncio.run(on_the_loop())
    now = time.time()
    # A table as a running gateway has it: frames of the same 1,000 stations already in.
    filler = [(stations[i % 1000], "in", "CALL", "m", "Heartbeat", now - 3600 + i * 1e-3, texts["heartbeat"])
              for i in range(filled)]
    with session_scope(engine) as session:
        insert_rows(session, log.rows(filler))
    out = [f"on the event loop, per frame handed to the recorder: {loop_cost:.2f} µs"]
    # Each as the gateway logs it: the station's CALLs in, ChargeCA's answer out.
    for name, direction, kind, action in (("heartbeat", "in", "CALL", "Heartbeat"),
                                          ("answer", "out", "CALLRESULT", "Heartbeat"),
                                          ("event", "in", "CALL", "TransactionEvent")):
        batch = [(stations[i % 1000], direction, kind, "m", action, now + i * 1e-4, texts[name]) for i in range(frames)]
        rows = log.rows(batch)
        prepare = best(lambda batch=batch: log.rows(batch), frames)

        def insert(rows=rows):
            # Commits of the writer's batch size, into a table that already holds the rows above.
            for start in range(0, len(rows), FLUSH_ROWS):
                with session_scope(engine) as session:
                    insert_rows(session, rows[start:start + FLUSH_ROWS])
        write = best(insert, frames)
        out.append(f"writer thread, {action} {kind} ({len(texts[name])} bytes): redact and cut {prepare:.2f} µs, "
                   f"insert {write:.2f} µs per frame")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--filled", type=int, default=100_000, help="frames in the table before measuring")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-message-log-") as tmp:
        url = f"sqlite:///{tmp}/bench.db"  # SQLite WAL, as the gateway benchmark's server
        migrate(url)
        engine = make_engine(url)
        try:
            # The log's own file beside the database, with its own settings, as the gateway writes it.
            print("\n".join(measure(message_log_engine(engine), args.frames, args.filled)))
        finally:
            engine.dispose()


if __name__ == "__main__":
    main()
