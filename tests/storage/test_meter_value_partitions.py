"""Meter-value retention on real databases: on PostgreSQL monthly partitions made ahead and
dropped whole once older than the retention, rows outside them caught and kept; on SQLite the
same retention by DELETE."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, insert, text
from sqlmodel import select

from api.csms.meter_values.service import sampled_values
from storage.db import session_scope
from storage.meter_values import MeterReading
from storage.partitions import PARTITION_SCHEMA, maintain, partitions

NOW = datetime(2031, 3, 15, 12, tzinfo=timezone.utc)


def _row(received_at: datetime, value: float = 1.0) -> dict:
    return {"station_id": "CS-1", "sampled_at": received_at, "received_at": received_at, "sampled_count": 1,
            "sampled_values": json.dumps([{"measurand": "Energy.Active.Import.Register",
                                           "context": "Sample.Periodic", "multiplier": 0, "value": value}])}


def _values(engine) -> list[float]:
    with session_scope(engine) as session:
        return sorted(value.value for reading in session.exec(select(MeterReading))
                      for value in sampled_values(reading))


def test_retention_deletes_what_is_older_on_either_database(engine):
    with session_scope(engine) as session:
        session.execute(insert(MeterReading), [_row(NOW - timedelta(days=40), 1), _row(NOW - timedelta(days=5), 2)])
    with session_scope(engine) as session:
        done = maintain(session, now=NOW, months_ahead=1, retention_days=30)
    assert done.deleted_rows == 1
    assert _values(engine) == [2]


@pytest.mark.postgres
def test_partitions_are_made_ahead_and_dropped_whole(postgres_url):
    from storage.db import make_engine

    engine = make_engine(postgres_url)
    try:
        with session_scope(engine) as session:
            # Rows of a month with no partition yet land in the DEFAULT partition...
            session.execute(insert(MeterReading), [_row(datetime(2031, 1, 20, tzinfo=timezone.utc), 1),
                                                 _row(datetime(2031, 3, 1, tzinfo=timezone.utc), 2)])
        with session_scope(engine) as session:
            done = maintain(session, now=NOW, months_ahead=2, retention_days=3650)
        assert done.created == ["meter_reading_y2031m03", "meter_reading_y2031m04", "meter_reading_y2031m05"]
        with session_scope(engine) as session:
            connection = session.connection()
            assert {"meter_reading_y2031m03", "meter_reading_y2031m05"} <= set(partitions(connection))
            # ... and move into their month's partition when it is made.
            in_march = connection.execute(text(
                f'SELECT count(*) FROM "{PARTITION_SCHEMA}".meter_reading_y2031m03')).scalar()
            assert in_march == 1
            session.execute(text(f'CREATE TABLE "{PARTITION_SCHEMA}".meter_reading_y2030m12 PARTITION OF meter_reading '
                                 "FOR VALUES FROM ('2030-12-01T00:00:00+00:00') TO ('2031-01-01T00:00:00+00:00')"))
            session.execute(insert(MeterReading), [_row(datetime(2030, 12, 10, tzinfo=timezone.utc), 0)])
        assert _values(engine) == [0, 1, 2]

        # 60 days before NOW is 2031-01-14: December is older as a whole and goes with its
        # partition; January's row before the cutoff is deleted from the DEFAULT partition.
        with session_scope(engine) as session:
            done = maintain(session, now=NOW, months_ahead=2, retention_days=60)
        # (The migration made the partitions of the real month and the next: they go as well.)
        assert done.dropped[-1] == "meter_reading_y2030m12" and done.created == []
        assert all(name < "meter_reading_y2031m01" for name in done.dropped)
        assert _values(engine) == [1, 2]
        with session_scope(engine) as session:
            done = maintain(session, now=NOW + timedelta(days=30), months_ahead=2, retention_days=60)
            assert session.exec(select(func.count()).select_from(MeterReading)).one() == 1
        assert done.deleted_rows == 1 and done.created == ["meter_reading_y2031m06"]
    finally:
        engine.dispose()


def _waiting_on_a_lock(engine) -> bool:
    with session_scope(engine) as session:
        return bool(session.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'")).scalar())


@pytest.mark.postgres
def test_two_passes_at_once_make_each_partition_once(postgres_url):
    """`serve --workers` starts a pass in each worker at once: the second waits for the first and
    finds the months made, instead of failing on the same CREATE TABLE (DuplicateTable)."""
    from storage.db import make_engine

    engine = make_engine(postgres_url)

    def second_pass():
        with session_scope(engine) as session:
            return maintain(session, now=NOW, months_ahead=1, retention_days=3650)

    try:
        with ThreadPoolExecutor(1) as pool:
            with session_scope(engine) as first:
                made = maintain(first, now=NOW, months_ahead=1, retention_days=3650).created
                second = pool.submit(second_pass)
                deadline = time.monotonic() + 10
                while not _waiting_on_a_lock(engine):   # the second pass waits for the first's
                    assert time.monotonic() < deadline and not second.done(), second.exception()
                    time.sleep(0.05)
            assert made == ["meter_reading_y2031m03", "meter_reading_y2031m04"]
            assert second.result(timeout=10).created == []
    finally:
        engine.dispose()
