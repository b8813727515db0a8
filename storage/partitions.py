"""Monthly range partitions of ``meter_reading`` on PostgreSQL, and retention on both databases.

Partitions live in a schema of their own (``PARTITION_SCHEMA``) so that the public schema holds
exactly the tables the models describe. Each covers one calendar month of ``received_at`` (UTC)
and is named after it (``meter_reading_y2026m12``); a DEFAULT partition catches anything outside
them (a maintenance pass that did not run in time), so an insert never fails for want of one.
``maintain`` makes the partitions of this month and the next ``months_ahead`` ones and drops
those entirely older than the retention; rows older than it elsewhere (the DEFAULT partition, the
month the cutoff falls in, SQLite) are deleted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, text
from sqlalchemy.engine import Connection
from sqlmodel import Session

from storage import advisory_locks
from storage.meter_values import MeterReading

# The table partitioned; the functions take another for the migrations that made and replaced
# meter_value (a row per sampled value) before it.
TABLE = MeterReading.__tablename__


def partition_schema(table: str = TABLE) -> str:
    return f"{table}_partitions"


PARTITION_SCHEMA = partition_schema()


@dataclass(frozen=True)
class Maintenance:
    created: list[str]
    dropped: list[str]
    deleted_rows: int


def is_postgresql(bind: Connection | Session) -> bool:
    return bind.get_bind().dialect.name == "postgresql" if isinstance(bind, Session) else \
        bind.dialect.name == "postgresql"


def _month(at: datetime, offset: int = 0) -> datetime:
    index = at.year * 12 + at.month - 1 + offset
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=timezone.utc)


def partition_name(month: datetime, table: str = TABLE) -> str:
    return f"{table}_y{month.year:04d}m{month.month:02d}"


def _month_of(name: str, table: str = TABLE) -> datetime | None:
    """The month a partition's name says, or None for a name that is no monthly partition's."""
    found = re.fullmatch(rf"{re.escape(table)}_y(\d{{4}})m(\d{{2}})", name)
    return None if found is None else datetime(int(found[1]), int(found[2]), 1, tzinfo=timezone.utc)


def create_default_partition(connection: Connection, table: str = TABLE) -> None:
    schema = partition_schema(table)
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    connection.execute(text(f'CREATE TABLE IF NOT EXISTS "{schema}".{table}_default PARTITION OF {table} DEFAULT'))


def partitions(connection: Connection, table: str = TABLE) -> list[str]:
    """The monthly partitions of ``table``, oldest first (the DEFAULT one is not listed)."""
    names = connection.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :table"), {"table": table}).scalars()
    return sorted(name for name in names if _month_of(name, table) is not None)


def ensure_partitions(connection: Connection, now: datetime, months_ahead: int, table: str = TABLE) -> list[str]:
    """Create the partitions of the month of ``now`` and the ``months_ahead`` after it; the
    names of those created."""
    schema = partition_schema(table)
    existing = set(partitions(connection, table))
    created = []
    for offset in range(months_ahead + 1):
        start, end = _month(now, offset), _month(now, offset + 1)
        name = partition_name(start, table)
        if name in existing:
            continue
        # Rows of that month already in the DEFAULT partition would make the new partition's
        # creation fail: move them out first, in this same transaction.
        moved = connection.execute(text(
            f'DELETE FROM "{schema}".{table}_default WHERE received_at >= :start AND received_at < :end '
            'RETURNING *'), {"start": start, "end": end}).mappings().all()
        connection.execute(text(
            f'CREATE TABLE "{schema}".{name} PARTITION OF {table} '
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"))
        if moved:
            columns = list(moved[0].keys())
            connection.execute(text(f"INSERT INTO {table} ({', '.join(columns)}) "
                                    f"VALUES ({', '.join(':' + column for column in columns)})"),
                               [dict(row) for row in moved])
        created.append(name)
    return created


def maintain(session: Session, *, now: datetime, months_ahead: int, retention_days: int) -> Maintenance:
    """One maintenance pass in ``session``'s transaction."""
    cutoff = now - timedelta(days=retention_days)
    created: list[str] = []
    dropped: list[str] = []
    if is_postgresql(session):
        # One pass at a time across processes: the workers of `serve --workers` each run one at
        # start, and two that find the same month missing both created it (DuplicateTable).
        advisory_locks.wait_in(session, advisory_locks.METER_VALUE_MAINTENANCE)
        connection = session.connection()
        created = ensure_partitions(connection, now, months_ahead)
        for name in partitions(connection):
            if _month(_month_of(name), 1) <= cutoff:  # type: ignore[arg-type]
                connection.execute(text(f'DROP TABLE "{PARTITION_SCHEMA}".{name}'))
                dropped.append(name)
    deleted = session.exec(delete(MeterReading).where(MeterReading.received_at < cutoff)).rowcount or 0  # type: ignore[call-overload]
    return Maintenance(created, dropped, deleted)
