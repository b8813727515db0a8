"""CSMS-initiated calls to stations, persisted before they are sent (persist first, then push).

One row per call: asynchronous operator jobs, certificate deliveries and root installations all
go through here, so a call survives a restart and its outcome can be polled.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Column, Text
from sqlalchemy.sql import ColumnElement
from sqlmodel import Field, Session, SQLModel, select

from storage.types import UtcDateTime, utcnow


class CallStatus:
    """pending → sent → answered | failed (api/csms/outbox/engine.py); a retried call goes back
    to pending; a split job's later parts are held until the part before is answered
    (api/csms/split_jobs.py). Rows of versions before 0008 may say "error" or "timeout": migration 0008 makes
    them "failed"."""

    PENDING = "pending"        # stored, not yet sent (or to be sent again: see next_attempt_at)
    SENT = "sent"              # on the wire, answer awaited (by the lease's holder)
    ANSWERED = "answered"      # CALLRESULT received; see response
    FAILED = "failed"          # ended without an answer (why in error): a CALLERROR, attempts used up, refused
    HELD = "held"              # a part of a split job, stored, waiting for the part before it (never due)


class OutboundCall(SQLModel, table=True):
    __tablename__ = "outbound_call"

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(foreign_key="station.id", index=True, max_length=48)
    action: str = Field(max_length=64)
    payload: str = Field(sa_column=Column(Text, nullable=False))     # JSON
    status: str = Field(default=CallStatus.PENDING, index=True, max_length=16)
    response: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # JSON
    error: str | None = Field(default=None, max_length=500)
    # What the call is for, e.g. "certificate_delivery", and the row it concerns.
    purpose: str | None = Field(default=None, index=True, max_length=32)
    reference: str | None = Field(default=None, max_length=64)
    attempts: int = Field(default=0)
    # Seconds to wait for the station's answer, as the operator asked for a job (None: the
    # gateway's timeout). Stored, so that it holds after a restart and on whichever node sends it.
    answer_timeout: float | None = Field(default=None)
    # While status is "sent": who sent it and until when that sender may still be waiting for the
    # answer (storage/leases.py). A row whose lease is abandoned is taken up again.
    lease_node: str | None = Field(default=None, max_length=64)
    lease_process: str | None = Field(default=None, max_length=16)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UtcDateTime, index=True)
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


def call_ids_by_station(session: Session, station_ids: Sequence[str], *where: ColumnElement[bool]) -> list[list[int]]:
    """For each of ``station_ids``, the ids of its calls matching ``where``, oldest first: one
    read for a whole batch of stations (every station that connects in a storm asks)."""
    by_station: dict[str, list[int]] = {station_id: [] for station_id in station_ids}
    for call_id, station_id in session.exec(
            select(OutboundCall.id, OutboundCall.station_id)
            .where(OutboundCall.station_id.in_(by_station), *where).order_by(OutboundCall.id)):
        by_station[station_id].append(call_id)
    return [by_station[station_id] for station_id in station_ids]
