"""B — provisioning: reports, variables, network profiles and resets (B06–B12)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ocpp.v201 import call_result
from ocpp.v201.datatypes import (
    ComponentVariableType,
    GetVariableDataType,
    NetworkConnectionProfileType,
    SetVariableDataType,
)
from ocpp.v201.enums import Action, ComponentCriterionEnumType, ReportBaseEnumType, ResetEnumType

from api.csms.provisioning.splitting import Splittable
from api.ocpp.command import Command


@dataclass(frozen=True)
class GetBaseReport(Command[call_result.GetBaseReport]):
    """B07: the station reports a predefined part of its device model (NotifyReport follows)."""

    action: ClassVar[str] = Action.get_base_report
    request_id: int
    report_base: ReportBaseEnumType


@dataclass(frozen=True)
class GetReport(Command[call_result.GetReport]):
    """B08: the station reports the components and variables asked for (NotifyReport follows)."""

    action: ClassVar[str] = Action.get_report
    request_id: int
    component_variable: list[ComponentVariableType] | None = None
    component_criteria: list[ComponentCriterionEnumType] | None = None


@dataclass(frozen=True)
class GetVariables(Command[call_result.GetVariables], Splittable):
    """B06: read variables of the station's device model (sent in as many messages as the
    station's DeviceDataCtrlr.ItemsPerMessage/BytesPerMessage[GetVariables] require, B06.FR.05;
    the answers merged into one)."""

    action: ClassVar[str] = Action.get_variables
    items_field: ClassVar[str] = "getVariableData"
    results_field: ClassVar[str] = "getVariableResult"
    get_variable_data: list[GetVariableDataType]


@dataclass(frozen=True)
class SetVariables(Command[call_result.SetVariables], Splittable):
    """B05: write variables of the station's device model. Each value is checked against the
    characteristics the station reported (ReadOnly, dataType, minLimit/maxLimit, valuesList)
    before anything leaves; sent in as many messages as its SetVariables limits require."""

    action: ClassVar[str] = Action.set_variables
    items_field: ClassVar[str] = "setVariableData"
    results_field: ClassVar[str] = "setVariableResult"
    set_variable_data: list[SetVariableDataType]


@dataclass(frozen=True)
class SetNetworkProfile(Command[call_result.SetNetworkProfile]):
    """B09: store a network connection profile in a configuration slot (officer; never below the
    station's profile). Kept with the answer: GET /api/v1/stations/{id}/network-profiles."""

    action: ClassVar[str] = Action.set_network_profile
    configuration_slot: int
    connection_data: NetworkConnectionProfileType


@dataclass(frozen=True)
class Reset(Command[call_result.Reset]):
    """B11/B12: restart the station (officer), or one EVSE when evse_id is given. Kept with the
    answer; one answered Accepted or Scheduled stays open until the station boots again:
    GET /api/v1/stations/{id}/resets."""

    action: ClassVar[str] = Action.reset
    type: ResetEnumType
    evse_id: int | None = None
