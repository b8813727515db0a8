"""Security events: those stations report (SecurityEventNotification) and those we raise.

A row the CSMS raises for refused connections stands for ``occurrences`` refusals of one
source address for one rule, from ``occurred_at`` (first seen) to ``last_seen_at``: refusals
are aggregated (api/ocpp/admission/refusal_log.py), so an unauthenticated client cannot write a row each.
``prune`` keeps the table within the [security_events] retention policy.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, update
from sqlmodel import Field, Session, SQLModel, select

from storage.types import UtcDateTime, utcnow


class SecurityEvent(SQLModel, table=True):
    __tablename__ = "security_event"

    id: int | None = Field(default=None, primary_key=True)
    station_id: str | None = Field(default=None, index=True, max_length=48)
    source: str = Field(max_length=16)               # "station" or "csms"
    type: str = Field(index=True, max_length=50)
    occurred_at: datetime = Field(sa_type=UtcDateTime, index=True)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)
    tech_info: str | None = Field(default=None, max_length=255)
    critical: bool = Field(default=False, index=True)
    occurrences: int = Field(default=1)
    last_seen_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    source_address: str | None = Field(default=None, max_length=64)


def prune(session: Session, *, older_than: timedelta, max_rows: int, now: datetime | None = None) -> int:
    """Delete events received before ``now - older_than`` and the oldest beyond ``max_rows``.
    Returns how many rows went."""
    cutoff = (now or utcnow()) - older_than
    deleted = session.exec(delete(SecurityEvent).where(SecurityEvent.received_at < cutoff)).rowcount or 0
    total = session.exec(select(func.count()).select_from(SecurityEvent)).one()
    if total > max_rows:
        # Ids grow with insertion: the newest max_rows have the largest ids.
        keep_from = session.exec(select(SecurityEvent.id).order_by(SecurityEvent.id.desc())
                                 .offset(max_rows - 1).limit(1)).one()
        deleted += session.exec(delete(SecurityEvent).where(SecurityEvent.id < keep_from)).rowcount or 0
    return deleted


def count_repeat(session: Session, event_id: int, seen_at: datetime) -> bool:
    """One more occurrence of event ``event_id``, seen at ``seen_at``; False when the row is gone
    (pruned), for the caller to store the repeat as a row of its own."""
    counted = session.exec(update(SecurityEvent).where(SecurityEvent.id == event_id).values(
        occurrences=SecurityEvent.occurrences + 1, last_seen_at=seen_at))
    return bool(counted.rowcount)
