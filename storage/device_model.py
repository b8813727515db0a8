"""A station's device model (block B) as it reported it, and the provisioning requests we sent.

- ``device_variable``: one row per variable of a component (component name, instance, EVSE,
  connector; variable name, instance) with its characteristics (NotifyReport). ``var_key`` is
  that identity in one column, so a report part is stored with two multi-row upserts and no
  read. ``device_attribute``: its attributes (Actual, Target, MinSet, MaxSet), keyed the same.
- ``device_report`` / ``device_report_part``: each GetBaseReport / GetReport and the NotifyReport
  parts it brought (seqNo, tbc), so a lost or out-of-order part shows.
- ``station_reset``, ``network_profile_request``: Reset and SetNetworkProfile requests with
  their answers; a Reset answered Scheduled stays open until the station boots again.
- ``station_onboarding``: where a station is in the onboarding policy (first boot Pending,
  FullInventory, baseline variables, then Accepted).

A station can only add rows here within bounds the policy sets ([device_model]).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, PrimaryKeyConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UtcDateTime, utcnow

# device_report.status
REQUESTED, STREAMING, COMPLETE, INCOMPLETE, REFUSED, TRUNCATED = (
    "requested", "streaming", "complete", "incomplete", "refused", "truncated")
# station_reset.status beside the station's answers (Accepted, Rejected, Scheduled)
RESET_REQUESTED, RESET_REBOOTED = "requested", "rebooted"
# station_onboarding.state
ONBOARDING_PENDING, ONBOARDING_REPORTING, ONBOARDING_CONFIGURING, ONBOARDING_DONE, ONBOARDING_FAILED = (
    "pending", "reporting", "configuring", "done", "failed")

NO_EVSE = -1  # evse_id / connector_id of a component not on an EVSE (unique keys need a value)


class DeviceVariable(SQLModel, table=True):
    __tablename__ = "device_variable"
    __table_args__ = (UniqueConstraint("station_id", "var_key", name="uq_device_variable_key"),
                      Index("ix_device_variable_station_component", "station_id", "component", "variable"))

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(max_length=48)
    var_key: str = Field(max_length=240)
    component: str = Field(max_length=50)
    component_instance: str = Field(default="", max_length=50)
    evse_id: int = NO_EVSE
    connector_id: int = NO_EVSE
    variable: str = Field(max_length=50)
    variable_instance: str = Field(default="", max_length=50)
    unit: str | None = Field(default=None, max_length=16)
    data_type: str | None = Field(default=None, max_length=20)
    min_limit: float | None = None
    max_limit: float | None = None
    values_list: str | None = Field(default=None, max_length=1000)
    supports_monitoring: bool | None = None
    report_id: int | None = None     # device_report.id of the report that last described it
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class DeviceAttribute(SQLModel, table=True):
    __tablename__ = "device_attribute"
    __table_args__ = (PrimaryKeyConstraint("station_id", "var_key", "type"),)

    station_id: str = Field(max_length=48)
    var_key: str = Field(max_length=240)
    type: str = Field(max_length=8)          # Actual, Target, MinSet, MaxSet
    value: str | None = Field(default=None, max_length=2500)
    mutability: str | None = Field(default=None, max_length=10)
    persistent: bool | None = None
    constant: bool | None = None
    source: str = Field(default="report", max_length=16)   # report, GetVariables, SetVariables
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class DeviceReport(SQLModel, table=True):
    __tablename__ = "device_report"
    __table_args__ = (UniqueConstraint("station_id", "request_id", name="uq_device_report_request"),)

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(index=True, max_length=48)
    request_id: int
    kind: str = Field(max_length=16)                 # GetBaseReport, GetReport, or station (unasked)
    report_base: str | None = Field(default=None, max_length=24)
    criteria: str | None = Field(default=None, max_length=4000)   # GetReport's filter, JSON
    answer: str | None = Field(default=None, max_length=16)      # Accepted, Rejected, NotSupported, EmptyResultSet
    status: str = Field(default=REQUESTED, max_length=12)
    parts: int = 0
    entries: int = 0
    last_seq_no: int | None = None   # seqNo of the part with tbc false, once it came
    out_of_order: bool = False
    missing: str | None = Field(default=None, max_length=1000)    # seqNos never received, "3,7"
    error: str | None = Field(default=None, max_length=500)
    requested_by: str = Field(max_length=100)
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class DeviceReportPart(SQLModel, table=True):
    __tablename__ = "device_report_part"
    __table_args__ = (PrimaryKeyConstraint("report_id", "seq_no"),)

    report_id: int
    seq_no: int
    tbc: bool
    entries: int
    received_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class StationReset(SQLModel, table=True):
    __tablename__ = "station_reset"

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(index=True, max_length=48)
    type: str = Field(max_length=10)           # Immediate, OnIdle
    evse_id: int | None = None
    status: str = Field(default=RESET_REQUESTED, max_length=16)
    answer: str | None = Field(default=None, max_length=16)
    boot_reason: str | None = Field(default=None, max_length=24)
    requested_by: str = Field(max_length=100)
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    rebooted_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class NetworkProfileRequest(SQLModel, table=True):
    __tablename__ = "network_profile_request"

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(index=True, max_length=48)
    configuration_slot: int
    security_profile: int
    ocpp_csms_url: str = Field(max_length=512)
    ocpp_interface: str = Field(max_length=16)
    status: str = Field(default="requested", max_length=16)    # requested, or Accepted / Rejected / Failed, or how it ended
    requested_by: str = Field(max_length=100)
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class StationOnboarding(SQLModel, table=True):
    __tablename__ = "station_onboarding"

    station_id: str = Field(primary_key=True, max_length=48)
    state: str = Field(default=ONBOARDING_PENDING, max_length=12)
    report_request_id: int | None = None
    detail: str | None = Field(default=None, max_length=4000)    # per baseline variable: what was set, JSON
    started_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
