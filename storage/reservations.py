"""Reservations (H01-H04): what we asked a station to reserve, its answer, and what became of it.

Ids are ours (``ReserveNowRequest.id``), unique per station. Only operators create rows; a
station can only change the status of one of them (ReservationStatusUpdate, a TransactionEvent
naming it), so the table stays as large as the operators make it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UtcDateTime, utcnow

# Our statuses beside the station's answers (ReserveNowStatusEnumType: Accepted, Faulted,
# Occupied, Rejected, Unavailable) and its updates (ReservationUpdateStatusEnumType: Expired,
# Removed): requested (sent, no answer yet), cancelled (CancelReservation accepted), used (a
# transaction started with it).
REQUESTED, CANCELLED, USED = "requested", "cancelled", "used"


class Reservation(SQLModel, table=True):
    __tablename__ = "reservation"
    __table_args__ = (UniqueConstraint("station_id", "reservation_id", name="uq_reservation_station_id"),)

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(index=True, max_length=48)
    reservation_id: int
    evse_id: int | None = None
    connector_type: str | None = Field(default=None, max_length=20)
    id_token: str = Field(max_length=36)
    id_token_type: str = Field(max_length=20)
    group_id_token: str | None = Field(default=None, max_length=36)
    expires_at: datetime = Field(sa_type=UtcDateTime)
    status: str = Field(default=REQUESTED, max_length=16)
    transaction_id: str | None = Field(default=None, max_length=36)
    requested_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
