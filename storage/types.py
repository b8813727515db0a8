"""Column types shared by every domain's tables."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# What an integer column holds: an INTEGER on PostgreSQL (the row ids of most tables, EVSE ids)
# and a BIGINT (SQLite's every integer). The doors bound what they read to the column it meets.
# An OCPP integer is an INTEGER too (OCPP 2.0.1 Part 2: 32 bits, signed).
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MAX = 2**63 - 1


def as_utc(value: datetime) -> datetime:
    """``value`` (aware) in UTC. ValueError when that leaves the years a datetime holds: a valid
    0001-01-01T00:00:00+14:00 falls in year 0 in UTC, 9999-12-31T23:59:59-12:00 in year 10000."""
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("lies outside the years 1 to 9999 once in UTC") from None


class UtcDateTime(TypeDecorator):
    """Always timezone-aware UTC in Python; SQLite drops the zone, so put it back on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect):  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
