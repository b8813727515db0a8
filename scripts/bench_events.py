#!/usr/bin/env python3
"""What keeping stations' events costs (NotifyEvent, N07/N08). Prints numbers; asserts nothing.

    .venv/bin/python scripts/bench_events.py [--stations 20] [--messages 300] [--database-url URL]

Each station sends ``--messages`` NotifyEvents of 10 eventData each, one transaction per
message as the handler writes them (insert, then the per-station bound enforced), the bound
([monitoring] events_per_station) set to a third of what a station sends so that pruning runs on
most writes. Then the filtered read the REST route makes (one station, a component, severity,
a time window, 100 rows) over what is kept.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.csms.monitoring import service  # noqa: E402
from policies.model import MonitoringPolicy  # noqa: E402
from storage.db import make_engine, migrate, session_scope  # noqa: E402

EVENTS_PER_MESSAGE = 10


def event(number: int) -> dict:
    return {"eventId": number, "timestamp": "2025-06-01T12:00:00Z", "trigger": "Alerting",
            "actualValue": str(60 + number % 30), "techCode": "OverTemp", "cleared": number % 2 == 0,
            "eventNotificationType": "CustomMonitor", "variableMonitoringId": 1 + number % 3,
            "component": {"name": "TemperatureSensor" if number % 2 else "EVSE", "evse": {"id": 1}},
            "variable": {"name": "Temperature" if number % 2 else "Power"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=20)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        migrate(url)
        engine = make_engine(url)
        sent = args.messages * EVENTS_PER_MESSAGE
        policy = MonitoringPolicy(events_per_station=max(1, sent // 3))
        at = datetime(2025, 6, 1, 12, tzinfo=timezone.utc)
        wall, cpu = time.perf_counter(), time.process_time()
        for message in range(args.messages):
            for station in range(args.stations):
                events = [(event(message * EVENTS_PER_MESSAGE + i), at + timedelta(seconds=message))
                          for i in range(EVENTS_PER_MESSAGE)]
                with session_scope(engine) as session:
                    service.record_events(session, f"BENCH-{station:03d}", events, policy)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        total = args.messages * args.stations
        print(f"NotifyEvent ({EVENTS_PER_MESSAGE} events) stored: {total} messages in {wall:.1f} s, "
              f"{total / wall:.0f} messages/s; CPU {cpu / total * 1e6:.0f} µs/message, "
              f"{cpu / (total * EVENTS_PER_MESSAGE) * 1e6:.0f} µs/event (bound {policy.events_per_station}/station)")
        where = service.EventFilter(severity_at_most=None, component="TemperatureSensor", variable="Temperature",
                                    since=at, until=at + timedelta(seconds=args.messages))
        reads, start = 50, time.perf_counter()
        for _ in range(reads):
            with session_scope(engine) as session:
                found = service.events(session, "BENCH-000", where, limit=100)
        print(f"filtered read (station, component, variable, time window, 100 rows of "
              f"{policy.events_per_station} kept): {(time.perf_counter() - start) / reads * 1e3:.2f} ms, "
              f"{len(found)} rows")
        engine.dispose()


if __name__ == "__main__":
    main()
