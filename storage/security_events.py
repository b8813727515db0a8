"""Security events: those stations report (SecurityEventNotification) and those we raise."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from storage.types import UtcDateTime, utcnow


class SecurityEvent(SQLModel, table=True):
    __tablename__ = "security_event"

    id: int | None = Field(default=None, primary_key=True)
    station_id: str | None = Field(default=None, index=True, max_length=48)
    source: str = Field(max_length=16)               # "station" or "csms"
    type: str = Field(index=True, max_length=50)
    occurred_at: datetime = Field(sa_type=UtcDateTime, index=True)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    tech_info: str | None = Field(default=None, max_length=255)
    critical: bool = Field(default=False, index=True)
