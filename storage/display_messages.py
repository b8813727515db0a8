"""Display messages (O01-O06) per station: what we asked a station to show (SetDisplayMessage,
with its answer; ClearDisplayMessage) and what it reports it shows (NotifyDisplayMessages).

One row per (station, message id). A station reports on its own only after a GetDisplayMessages,
but may list messages we never set: at most ``MESSAGES_MAX`` rows per station are kept.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UtcDateTime, utcnow

MESSAGES_MAX = 256

# Who made the row: our SetDisplayMessage, or a station's report of a message we never set.
CSMS, STATION = "csms", "station"
# Our statuses beside the station's answers (SetDisplayMessage: Accepted, NotSupportedMessageFormat,
# Rejected, NotSupportedPriority, NotSupportedState, UnknownTransaction): sent without an answer yet,
# removed (ClearDisplayMessage Accepted), and a message the station reported that we never set.
REQUESTED, CLEARED, REPORTED = "requested", "cleared", "reported"


class DisplayMessage(SQLModel, table=True):
    __tablename__ = "display_message"
    __table_args__ = (UniqueConstraint("station_id", "message_id", name="uq_display_message_station_id"),)

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(index=True, max_length=48)
    message_id: int
    priority: str = Field(max_length=16)
    state: str | None = Field(default=None, max_length=16)
    start_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    end_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    transaction_id: str | None = Field(default=None, max_length=36)
    format: str = Field(max_length=8)
    language: str | None = Field(default=None, max_length=8)
    content: str = Field(max_length=512)
    display_component: str | None = Field(default=None, max_length=50)
    origin: str = Field(max_length=8)
    status: str = Field(default=REQUESTED, max_length=28)
    status_reason: str | None = Field(default=None, max_length=20)
    requested_by: str | None = Field(default=None, max_length=100)
    reported_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
