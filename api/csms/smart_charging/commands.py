"""K — smart charging: charging profiles and schedules (K01, K05, K08, K09, K10)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ocpp.v201 import call_result
from ocpp.v201.datatypes import ChargingProfileCriterionType, ChargingProfileType, ClearChargingProfileType
from ocpp.v201.enums import Action, ChargingRateUnitEnumType

from api.ocpp.command import Command


@dataclass(frozen=True)
class ClearChargingProfile(Command[call_result.ClearChargingProfile]):
    """K10: remove charging profiles, by id or by criteria."""

    action: ClassVar[str] = Action.clear_charging_profile
    charging_profile_id: int | None = None
    charging_profile_criteria: ClearChargingProfileType | None = None


@dataclass(frozen=True)
class GetChargingProfiles(Command[call_result.GetChargingProfiles]):
    """K09: the station reports its charging profiles (ReportChargingProfiles follows)."""

    action: ClassVar[str] = Action.get_charging_profiles
    request_id: int
    charging_profile: ChargingProfileCriterionType
    evse_id: int | None = None


@dataclass(frozen=True)
class GetCompositeSchedule(Command[call_result.GetCompositeSchedule]):
    """K08: the schedule an EVSE will follow for the next ``duration`` seconds."""

    action: ClassVar[str] = Action.get_composite_schedule
    duration: int
    evse_id: int
    charging_rate_unit: ChargingRateUnitEnumType | None = None


@dataclass(frozen=True)
class SetChargingProfile(Command[call_result.SetChargingProfile]):
    """K01: install a charging profile on an EVSE (0: the whole station)."""

    action: ClassVar[str] = Action.set_charging_profile
    evse_id: int
    charging_profile: ChargingProfileType
