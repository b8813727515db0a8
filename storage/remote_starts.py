"""Remote starts (F01/F02): each RequestStartTransaction we sent, the station's answer, and the
transaction that came of it (the station's TransactionEvent carrying our remoteStartId).

Only operators create rows; a station only fills in the outcome of one of them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UtcDateTime, utcnow

# Beside the station's answers (RequestStartStopStatusEnumType: Accepted, Rejected):
# requested (sent, no answer yet), started (its transaction began).
REQUESTED, STARTED = "requested", "started"


class RemoteStart(SQLModel, table=True):
    __tablename__ = "remote_start"
    __table_args__ = (UniqueConstraint("station_id", "remote_start_id", name="uq_remote_start_station_id"),)

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(index=True, max_length=48)
    remote_start_id: int
    id_token: str = Field(max_length=36)
    id_token_type: str = Field(max_length=20)
    evse_id: int | None = None
    with_charging_profile: bool = False
    status: str = Field(default=REQUESTED, max_length=16)
    status_reason: str | None = Field(default=None, max_length=20)
    transaction_id: str | None = Field(default=None, max_length=36)
    requested_by: str = Field(max_length=100)
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
