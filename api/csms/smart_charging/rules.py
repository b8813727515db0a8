"""The checks of a smart-charging call before it leaves (K01, K08, K09, K10), on every door (the
typed command, the raw call, a stored job as it leaves): api/csms/call_rules.py names these
actions CHECKED and api/csms/operator_calls.py runs ``check_request``.

The schema takes any integer and any number, so without these a profile a station must reject
(or, worse, one it applies as sent: a negative limit, periods out of order, a TxProfile for a
transaction long over) left as typed and came back as a bare Rejected, or as nothing at all from a
stored job. Each refusal names its rule. Where the station reported its SmartChargingCtrlr
(RateUnit, ProfileStackLevel, PeriodsPerSchedule), a value beyond what it reported is refused too;
where it did not, only what OCPP itself rules out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ocpp.v201.enums import ChargingProfileKindEnumType as Kind
from ocpp.v201.enums import ChargingProfilePurposeEnumType as Purpose
from sqlmodel import Session

from api.csms.provisioning.device_model import reported_value
from api.csms.transactions import service as transactions
from api.ocpp.framing import OcppError
from api.ocpp.handler import parse_datetime
from policies.model import Decision

# 10 MW in W (MCS chargers reach 3.75 MW; the largest current in A is far below): a limit above
# it is a typo, and stations that keep a limit as a 32-bit float lose its decimal long before.
LIMIT_MAX = 10_000_000
PROFILE_RULE = "call.charging_profile"
COMPOSITE_RULE = "call.composite_schedule"


@dataclass(frozen=True)
class Reported:
    """What the station reported of its SmartChargingCtrlr; None where it reported nothing."""

    rate_units: frozenset[str] | None = None
    max_stack_level: int | None = None
    max_periods: int | None = None

    @classmethod
    def of(cls, session: Session, station_id: str) -> Reported:
        units = reported_value(session, station_id, "SmartChargingCtrlr", "RateUnit")
        listed = frozenset(u.strip() for u in units.split(",") if u.strip()) if units is not None else None
        return cls(rate_units=listed or None,
                   max_stack_level=_whole(reported_value(session, station_id, "SmartChargingCtrlr",
                                                         "ProfileStackLevel")),
                   max_periods=_whole(reported_value(session, station_id, "SmartChargingCtrlr",
                                                     "PeriodsPerSchedule")))


def _whole(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def check_request(session: Session, station_id: str, action: str, payload: Mapping[str, Any],
                  now: datetime) -> Decision:
    """The rule of a smart-charging action, on the database's state now."""
    reported = Reported.of(session, station_id)
    if action == "SetChargingProfile":
        profile = payload["chargingProfile"]
        transaction = None
        if profile.get("transactionId") is not None:
            transaction = transactions.find(session, station_id, profile["transactionId"])
        return check_set_profile(payload, now, reported, transaction)
    if action == "GetCompositeSchedule":
        return check_composite_schedule(payload, reported)
    if action == "GetChargingProfiles":
        return _criteria(payload.get("evseId"), payload.get("chargingProfile", {}).get("stackLevel"))
    if action == "ClearChargingProfile":
        criteria = payload.get("chargingProfileCriteria") or {}
        return _criteria(criteria.get("evseId"), criteria.get("stackLevel"))
    raise AssertionError(f"no smart-charging check for {action}")  # pragma: no cover


def _criteria(evse_id: int | None, stack_level: int | None) -> Decision:
    if evse_id is not None and not (decision := _evse(evse_id, PROFILE_RULE)):
        return decision
    if stack_level is not None and stack_level < 0:
        return Decision.refuse(f"{PROFILE_RULE}.stack_level", "stackLevel must be 0 or more")
    return Decision.allow()


def _evse(evse_id: int, rule: str) -> Decision:
    if evse_id < 0:
        return Decision.refuse(f"{rule}.evse", "evseId must be 0 (the whole station) or more")
    return Decision.allow()


def check_composite_schedule(payload: Mapping[str, Any], reported: Reported) -> Decision:
    """GetCompositeSchedule (K08): a duration that is one, an EVSE (0: the whole station), a unit
    the station reported it uses."""
    if payload["duration"] < 1:
        return Decision.refuse(f"{COMPOSITE_RULE}.duration", "duration must be 1 second or more")
    if not (decision := _evse(payload["evseId"], COMPOSITE_RULE)):
        return decision
    return _rate_unit(payload.get("chargingRateUnit"), reported, f"{COMPOSITE_RULE}.rate_unit")


def _rate_unit(unit: str | None, reported: Reported, rule: str) -> Decision:
    if unit is not None and reported.rate_units is not None and unit not in reported.rate_units:
        return Decision.refuse(rule, f"chargingRateUnit {unit} is not one the station reported in "
                                     f"SmartChargingCtrlr.RateUnit ({','.join(sorted(reported.rate_units))})")
    return Decision.allow()


def check_set_profile(payload: Mapping[str, Any], now: datetime, reported: Reported,
                      transaction: transactions.TransactionView | None) -> Decision:
    """SetChargingProfile (K01): the profile's purpose fits its EVSE and its transaction, its
    stack level and validity are ones, its schedules fit its kind, and each schedule's periods
    start at 0, rise, and carry limits a station can apply."""
    profile, evse_id = payload["chargingProfile"], payload["evseId"]
    decision = _purpose(profile, evse_id, transaction)
    return check_profile(profile, now, reported) if decision else decision


def check_profile(profile: Mapping[str, Any], now: datetime, reported: Reported) -> Decision:
    """What a profile must be whatever carries it (SetChargingProfile, RequestStartTransaction):
    a stack level and validity that are ones, schedules that fit its kind, periods that start at
    0 and rise, limits a station can apply."""
    for decision in (_stack_level(profile, reported), _validity(profile, now), _kind(profile)):
        if not decision:
            return decision
    for schedule in profile["chargingSchedule"]:
        decision = _schedule(schedule, reported)
        if not decision:
            return decision
    return Decision.allow()


def check_remote_start_profile(session: Session, station_id: str, profile: Mapping[str, Any],
                               now: datetime) -> Decision:
    """The chargingProfile of a RequestStartTransaction (F01, K05): the TxProfile of the
    transaction about to begin, checked as SetChargingProfile checks one."""
    return check_profile(profile, now, Reported.of(session, station_id))


def _purpose(profile: Mapping[str, Any], evse_id: int,
             transaction: transactions.TransactionView | None) -> Decision:
    purpose, transaction_id = profile["chargingProfilePurpose"], profile.get("transactionId")
    if not (decision := _evse(evse_id, PROFILE_RULE)):
        return decision
    if purpose == Purpose.charging_station_external_constraints:
        return Decision.refuse(f"{PROFILE_RULE}.purpose", "ChargingStationExternalConstraints profiles come from "
                                                          "the station's own energy management, not from the CSMS")
    if purpose == Purpose.charging_station_max_profile and evse_id != 0:
        return Decision.refuse(f"{PROFILE_RULE}.evse", "a ChargingStationMaxProfile limits the whole station: "
                                                       "evseId must be 0")
    if purpose != Purpose.tx_profile:
        if transaction_id is not None:
            return Decision.refuse(f"{PROFILE_RULE}.transaction", f"only a TxProfile names a transactionId, not a "
                                                                  f"{purpose}")
        return Decision.allow()
    if evse_id == 0:
        return Decision.refuse(f"{PROFILE_RULE}.evse", "a TxProfile applies to the EVSE of its transaction: "
                                                       "evseId must be 1 or more")
    if transaction_id is None:
        return Decision.refuse(f"{PROFILE_RULE}.transaction", "a TxProfile needs the transactionId of the running "
                                                              "transaction it limits (for a transaction about to "
                                                              "start, send it with RequestStartTransaction)")
    if transaction is None:
        return Decision.refuse(f"{PROFILE_RULE}.unknown_transaction",
                               f"transaction {transaction_id!r} was never reported by this station")
    if transaction.ended_at is not None:
        return Decision.refuse(f"{PROFILE_RULE}.ended", f"transaction {transaction_id!r} has already ended")
    if transaction.evse_id is not None and transaction.evse_id != evse_id:
        return Decision.refuse(f"{PROFILE_RULE}.evse", f"transaction {transaction_id!r} runs on EVSE "
                                                       f"{transaction.evse_id}, not {evse_id}")
    return Decision.allow()


def _stack_level(profile: Mapping[str, Any], reported: Reported) -> Decision:
    level, highest = profile["stackLevel"], reported.max_stack_level
    if level < 0 or (highest is not None and level > highest):
        upper = f" to {highest} (SmartChargingCtrlr.ProfileStackLevel)" if highest is not None else " or more"
        return Decision.refuse(f"{PROFILE_RULE}.stack_level", f"stackLevel {level} is out of range: 0{upper}")
    return Decision.allow()


def _moment(value: str | None, field: str) -> datetime | None:
    return None if value is None else parse_datetime(value, field)


def _validity(profile: Mapping[str, Any], now: datetime) -> Decision:
    try:
        valid_from = _moment(profile.get("validFrom"), "validFrom")
        valid_to = _moment(profile.get("validTo"), "validTo")
        for schedule in profile["chargingSchedule"]:
            _moment(schedule.get("startSchedule"), "startSchedule")
    except OcppError as exc:
        return Decision.refuse(f"{PROFILE_RULE}.validity", exc.description)
    if valid_to is not None and valid_to <= now:
        return Decision.refuse(f"{PROFILE_RULE}.validity", "validTo lies in the past: the profile would never apply")
    if valid_from is not None and valid_to is not None and valid_from >= valid_to:
        return Decision.refuse(f"{PROFILE_RULE}.validity", "validFrom must lie before validTo")
    return Decision.allow()


def _kind(profile: Mapping[str, Any]) -> Decision:
    kind, recurrency = profile["chargingProfileKind"], profile.get("recurrencyKind")
    if kind == Kind.recurring and recurrency is None:
        return Decision.refuse(f"{PROFILE_RULE}.kind", "a Recurring profile needs recurrencyKind (Daily or Weekly)")
    if kind != Kind.recurring and recurrency is not None:
        return Decision.refuse(f"{PROFILE_RULE}.kind", f"recurrencyKind applies to Recurring profiles, not {kind}")
    for schedule in profile["chargingSchedule"]:
        starts = "startSchedule" in schedule
        if kind == Kind.relative and starts:
            return Decision.refuse(f"{PROFILE_RULE}.kind", "a Relative profile starts when charging starts: "
                                                           "leave startSchedule out")
        if kind != Kind.relative and not starts:
            return Decision.refuse(f"{PROFILE_RULE}.kind", f"a {kind} profile needs startSchedule in every "
                                                           "chargingSchedule")
    return Decision.allow()


def _schedule(schedule: Mapping[str, Any], reported: Reported) -> Decision:
    unit = _rate_unit(schedule["chargingRateUnit"], reported, f"{PROFILE_RULE}.rate_unit")
    if not unit:
        return unit
    duration, periods = schedule.get("duration"), schedule["chargingSchedulePeriod"]
    if duration is not None and duration < 1:
        return Decision.refuse(f"{PROFILE_RULE}.periods", "duration must be 1 second or more; leave it out for a "
                                                          "schedule without end")
    if reported.max_periods is not None and len(periods) > reported.max_periods:
        return Decision.refuse(f"{PROFILE_RULE}.periods", f"{len(periods)} periods, more than the "
                                                          f"{reported.max_periods} the station takes "
                                                          "(SmartChargingCtrlr.PeriodsPerSchedule)")
    starts = [period["startPeriod"] for period in periods]
    if starts[0] != 0:
        return Decision.refuse(f"{PROFILE_RULE}.periods", "the first chargingSchedulePeriod must have startPeriod 0")
    if any(later <= earlier for earlier, later in zip(starts, starts[1:])):
        return Decision.refuse(f"{PROFILE_RULE}.periods", "startPeriod must rise from one period to the next")
    if duration is not None and starts[-1] >= duration:
        return Decision.refuse(f"{PROFILE_RULE}.periods", f"startPeriod {starts[-1]} lies beyond the schedule's "
                                                          f"duration {duration}")
    minimum = schedule.get("minChargingRate")
    for limit in [period["limit"] for period in periods] + ([minimum] if minimum is not None else []):
        if not 0 <= limit <= LIMIT_MAX or round(limit, 1) != limit:
            return Decision.refuse(f"{PROFILE_RULE}.limit", f"limit {limit} must be 0 to {LIMIT_MAX} with at most "
                                                            "one decimal")
    for period in periods:
        phases, phase = period.get("numberPhases"), period.get("phaseToUse")
        if phases is not None and not 1 <= phases <= 3:
            return Decision.refuse(f"{PROFILE_RULE}.phases", f"numberPhases {phases} must be 1 to 3")
        if phase is not None and (phases != 1 or not 1 <= phase <= 3):
            return Decision.refuse(f"{PROFILE_RULE}.phases", "phaseToUse (1 to 3) applies only with numberPhases 1")
    return Decision.allow()
