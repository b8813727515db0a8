"""Monthly range partitions of ``meter_value`` on PostgreSQL, and retention on both databases.

Partitions live in a schema of their own (``PARTITION_SCHEMA``) so that the public schema holds
exactly the tables the models describe. Each covers one calendar month of ``received_at`` (UTC)
and is named after it (``meter_value_y2026m12``); a DEFAULT partition catches anything outside
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
from storage.meter_values import MeterValue

PARTITION_SCHEMA = "meter_value_partitions"
_NAME = re.compile(r"^meter_value_y(\d{4})m(\d{2})$")


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


def partition_name(month: datetime) -> str:
    return f"meter_value_y{month.year:04d}m{month.month:02d}"


def create_default_partition(connection: Connection) -> None:
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{PARTITION_SCHEMA}"'))
    connection.execute(text(f'CREATE TABLE IF NOT EXISTS "{PARTITION_SCHEMA}".meter_value_default '
                            f'PARTITION OF meter_value DEFAULT'))


def partitions(connection: Connection) -> list[str]:
    """The monthly partitions of meter_value, oldest first (the DEFAULT one is not listed)."""
    names = connection.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'meter_value'")).scalars()
    return sorted(name for name in names if _NAME.match(name))


def ensure_partitions(connection: Connection, now: datetime, months_ahead: int) -> list[str]:
    """Create the partitions of the month of ``now`` and the ``months_ahead`` after it; the
    names of those created."""
    existing = set(partitions(connection))
    created = []
    for offset in range(months_ahead + 1):
        start, end = _month(now, offset), _month(now, offset + 1)
        name = partition_name(start)
        if name in existing:
            continue
        # Rows of that month already in the DEFAULT partition would make the new partition's
        # creation fail: move them out first, in this same transaction.
        moved = connection.execute(text(
            f'DELETE FROM "{PARTITION_SCHEMA}".meter_value_default WHERE received_at >= :start AND received_at < :end '
            'RETURNING *'), {"start": start, "end": end}).mappings().all()
        connection.execute(text(
            f'CREATE TABLE "{PARTITION_SCHEMA}".{name} PARTITION OF meter_value '
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"))
        if moved:
            connection.execute(MeterValue.__table__.insert(), [dict(row) for row in moved])
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
            year, month = (int(part) for part in _NAME.match(name).groups())  # type: ignore[union-attr]
            if _month(datetime(year, month, 1, tzinfo=timezone.utc), 1) <= cutoff:
                connection.execute(text(f'DROP TABLE "{PARTITION_SCHEMA}".{name}'))
                dropped.append(name)
    deleted = session.exec(delete(MeterValue).where(MeterValue.received_at < cutoff)).rowcount or 0  # type: ignore[call-overload]
    return Maintenance(created, dropped, deleted)
