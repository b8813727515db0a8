"""N02–N06 — monitoring: monitors on variables, the monitoring base and level, reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ocpp.v201 import call_result
from ocpp.v201.datatypes import ClearMonitoringResultType, ComponentVariableType, SetMonitoringDataType
from ocpp.v201.enums import Action, MonitorBaseEnumType, MonitoringCriterionEnumType

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
