"""Requests whose answer comes back as a stream of numbered parts (seqNo, tbc): customer
information (N09/N10), monitoring reports (N02), display message reports (O03).

One row per (station, kind, requestId), written before the request leaves (api/csms/call_effects.py);
the parts themselves go to the kind's own table. What a row says about the stream: how many
parts came, the seqNo expected next, whether a part came out of order or twice (``gap``), and
``complete`` once the part with tbc false came and none before it was missing.

Only operators create rows (parts for a requestId we never sent are not kept), so the table grows
with what operators ask; the retention passes of the blocks delete old ones with their parts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UtcDateTime, utcnow

CUSTOMER_INFORMATION, MONITORING_REPORT, DISPLAY_MESSAGES = "CustomerInformation", "GetMonitoringReport", \
    "GetDisplayMessages"

# Our status before the station's answer (Accepted, Rejected, Invalid, NotSupported, EmptyResultSet, Unknown)
# or instead of it (error, timeout, not_connected, refused).
REQUESTED = "requested"


class ReportRequest(SQLModel, table=True):
    __tablename__ = "report_request"
    __table_args__ = (UniqueConstraint("station_id", "kind", "request_id", name="uq_report_request_station_kind_id"),)

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(index=True, max_length=48)
    kind: str = Field(max_length=24)
    request_id: int
    # What was asked, as JSON (CustomerInformation: report, clear and the one identifier).
    subject: str = Field(default="{}", max_length=4000)
    status: str = Field(default=REQUESTED, max_length=24)
    parts: int = 0
    next_seq_no: int = 0
    gap: bool = False
    complete: bool = False
    requested_by: str = Field(max_length=100)
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_part_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
