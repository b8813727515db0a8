"""Log retrieval (N01): what we asked a station to upload, its answers and status reports.

One ``log_request`` per GetLog (ids are ours, unique per station), made by an operator; the
station can only change its answer and status and add ``log_status_event`` rows, at most
``MAX_EVENTS_PER_REQUEST`` per request (the requestless ones alike, and those for requestIds we
never sent all together). The file itself is a ``received_file`` (storage/file_transfer.py,
purpose "log") named by ``grant_id``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UtcDateTime, utcnow

MAX_EVENTS_PER_REQUEST = 50


class LogRequest(SQLModel, table=True):
    __tablename__ = "log_request"
    __table_args__ = (UniqueConstraint("station_id", "request_id", name="uq_log_request_station_request"),)

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(index=True, max_length=48)
    request_id: int
    log_type: str = Field(max_length=16)                    # DiagnosticsLog, SecurityLog
    protocol: str | None = Field(default=None, max_length=8)     # ours: https or ftp; None: elsewhere
    grant_id: str | None = Field(default=None, max_length=32)    # our upload grant, if ours
    max_bytes: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    oldest_timestamp: datetime | None = Field(default=None, sa_type=UtcDateTime)
    latest_timestamp: datetime | None = Field(default=None, sa_type=UtcDateTime)
    requested_by: str = Field(max_length=100)
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)
    # GetLogResponse: Accepted, Rejected, AcceptedCanceled; without an answer: error, timeout,
    # not_connected, refused. None while the call is out.
    answer: str | None = Field(default=None, max_length=24)
    answered_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    file_name: str | None = Field(default=None, max_length=255)  # GetLogResponse.filename
    # The last LogStatusNotification for this request (UploadLogStatusEnumType).
    status: str | None = Field(default=None, max_length=24)
    status_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # N01.FR.12: the request whose GetLog the station answered AcceptedCanceled, ending this one.
    superseded_by: int | None = None


class LogStatusEvent(SQLModel, table=True):
    __tablename__ = "log_status_event"

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(index=True, max_length=48)
    request_id: int | None = None
    status: str = Field(max_length=24)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)
