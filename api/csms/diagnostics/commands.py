"""N — diagnostics: logs, monitoring, customer information (N01–N10)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ocpp.v201 import call_result
from ocpp.v201.datatypes import (
    CertificateHashDataType,
    ClearMonitoringResultType,
    ComponentVariableType,
    IdTokenType,
    LogParametersType,
    SetMonitoringDataType,
)
from ocpp.v201.enums import Action, LogEnumType, MonitorBaseEnumType, MonitoringCriterionEnumType

from api.ocpp.command import Command


@dataclass(frozen=True)
class ClearVariableMonitoringResult:
    """ClearVariableMonitoringResponse (ocpp.v201.call_result types its list as bare statuses)."""

    clear_monitoring_result: list[ClearMonitoringResultType]


@dataclass(frozen=True)
class ClearVariableMonitoring(Command[ClearVariableMonitoringResult]):
    """N06: remove monitors by id."""

    action: ClassVar[str] = Action.clear_variable_monitoring
    id: list[int]


@dataclass(frozen=True)
class CustomerInformation(Command[call_result.CustomerInformation]):
    """N09/N10: report and/or clear what the station keeps about a customer."""

    action: ClassVar[str] = Action.customer_information
    request_id: int
    report: bool
    clear: bool
    customer_certificate: CertificateHashDataType | None = None
    id_token: IdTokenType | None = None
    customer_identifier: str | None = None


@dataclass(frozen=True)
class GetLog(Command[call_result.GetLog]):
    """N01: upload a diagnostics or security log to log.remote_location."""

    action: ClassVar[str] = Action.get_log
    log: LogParametersType
    log_type: LogEnumType
    request_id: int
    retries: int | None = None
    retry_interval: int | None = None


@dataclass(frozen=True)
class GetMonitoringReport(Command[call_result.GetMonitoringReport]):
    """N02: the station reports its monitors (NotifyMonitoringReport follows)."""

    action: ClassVar[str] = Action.get_monitoring_report
    request_id: int
    component_variable: list[ComponentVariableType] | None = None
    monitoring_criteria: list[MonitoringCriterionEnumType] | None = None


@dataclass(frozen=True)
class SetMonitoringBase(Command[call_result.SetMonitoringBase]):
    """N03: which monitors are active (All, FactoryDefault, HardWiredOnly)."""

    action: ClassVar[str] = Action.set_monitoring_base
    monitoring_base: MonitorBaseEnumType


@dataclass(frozen=True)
class SetMonitoringLevel(Command[call_result.SetMonitoringLevel]):
    """N05: report only events of this severity (0–9) or worse."""

    action: ClassVar[str] = Action.set_monitoring_level
    severity: int


@dataclass(frozen=True)
class SetVariableMonitoring(Command[call_result.SetVariableMonitoring]):
    """N04: set monitors on variables."""

    action: ClassVar[str] = Action.set_variable_monitoring
    set_monitoring_data: list[SetMonitoringDataType]
