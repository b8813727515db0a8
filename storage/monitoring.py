"""Monitoring (N02-N08): the monitors of each station's variables, the monitoring base and
level we set, and the events stations report (NotifyEvent).

- ``variable_monitor``: one row per monitor, from our SetVariableMonitoring (its answer: the id
  the station assigned, or why not) or from the station's NotifyMonitoringReport. At most
  ``[monitoring] monitors_per_station`` rows per station; reported monitors beyond are not kept.
- ``monitoring_setting``: per station, the last SetMonitoringBase and SetMonitoringLevel and
  their answers.
- ``station_event``: every eventData of every NotifyEvent; a station writes here on its own, so
  at most ``[monitoring] events_per_station`` rows per station (the oldest go first, on write)
  and none older than ``event_retention_days`` (a periodic pass).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from storage.types import UtcDateTime, utcnow

# Where a monitor row comes from.
SET, REPORTED = "set", "reported"
# Our statuses beside the station's SetMonitoringResult status (Accepted, UnknownComponent,
# UnknownVariable, UnsupportedMonitorType, Rejected, Duplicate): sent without an answer yet,
# and removed (ClearVariableMonitoring Accepted or NotFound).
REQUESTED, CLEARED = "requested", "cleared"


class Place(SQLModel):
    """Where on the station's device model: a component (with its EVSE and connector) and a variable."""

    component_name: str = Field(max_length=50)
    component_instance: str | None = Field(default=None, max_length=50)
    evse_id: int | None = None
    connector_id: int | None = None
    variable_name: str = Field(max_length=50)
    variable_instance: str | None = Field(default=None, max_length=50)


class VariableMonitor(Place, table=True):
    __tablename__ = "variable_monitor"

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(index=True, max_length=48)
    monitor_id: int | None = None           # the station's id; None until it assigns one
    type: str = Field(max_length=24)        # MonitorEnumType
    value: float
    severity: int
    transaction: bool = False
    source: str = Field(max_length=10)      # SET or REPORTED
    status: str = Field(default=REQUESTED, max_length=24)
    status_reason: str | None = Field(default=None, max_length=20)
    requested_by: str | None = Field(default=None, max_length=100)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class MonitoringSetting(SQLModel, table=True):
    __tablename__ = "monitoring_setting"

    station_id: str = Field(primary_key=True, max_length=48)
    monitoring_base: str | None = Field(default=None, max_length=16)
    base_status: str | None = Field(default=None, max_length=24)
    monitoring_level: int | None = None
    level_status: str | None = Field(default=None, max_length=24)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class StationEvent(Place, table=True):
    __tablename__ = "station_event"
    __table_args__ = (Index("ix_station_event_station_time", "station_id", "timestamp"),)

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(index=True, max_length=48)
    event_id: int
    timestamp: datetime = Field(sa_type=UtcDateTime)
    trigger: str = Field(max_length=10)     # Alerting, Delta, Periodic
    cause: int | None = None
    actual_value: str = Field(max_length=2500)
    tech_code: str | None = Field(default=None, max_length=50)
    tech_info: str | None = Field(default=None, max_length=500)
    cleared: bool | None = None
    transaction_id: str | None = Field(default=None, max_length=36)
    variable_monitoring_id: int | None = None
    event_notification_type: str = Field(max_length=24)
    # The severity of the monitor that raised it, when we know that monitor.
    severity: int | None = None
    received_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
