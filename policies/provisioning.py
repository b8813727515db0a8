"""Provisioning decisions (block B), pure: whether a value may be written to a station's variable
given what the station reported about it, the heartbeat interval a station can take, and the
onboarding baseline.

The characteristics are the station's own (NotifyReport variableCharacteristics, OCPP 2.0.1
Part 2 §2.2 "VariableCharacteristicsType"): a value outside them is refused here, naming the
variable and the limit, rather than sent and answered Rejected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from policies.model import Decision
from storage.types import INT32_MAX

READ_ONLY = "ReadOnly"


@dataclass(frozen=True)
class Characteristics:
    """What the station reported about one variable (None: not reported)."""

    data_type: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    values_list: str | None = None
    mutability: str | None = None    # of the attribute to be written


def _number(value: str, integer: bool) -> float | None:
    try:
        number = int(value) if integer else float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _members(values_list: str | None) -> set[str] | None:
    if values_list is None:
        return None
    return {item.strip() for item in values_list.split(",")}


def check_value(name: str, value: str, known: Characteristics) -> Decision:
    """May ``value`` be written to variable ``name`` (Component.Variable[...]) of this station?"""
    if known.mutability == READ_ONLY:
        return Decision.refuse("variables.read_only", f"{name} is ReadOnly on this station")
    kind = known.data_type
    if kind in ("integer", "decimal"):
        number = _number(value.strip(), kind == "integer")
        if number is None:
            return Decision.refuse("variables.data_type", f"{name} takes an {kind}, not {value!r}")
        if known.min_limit is not None and number < known.min_limit:
            return Decision.refuse("variables.min_limit", f"{name} = {value} is below its minLimit "
                                                          f"{_shown(known.min_limit)}")
        if known.max_limit is not None and number > known.max_limit:
            return Decision.refuse("variables.max_limit", f"{name} = {value} is above its maxLimit "
                                                          f"{_shown(known.max_limit)}")
        return Decision.allow()
    if kind == "boolean" and value not in ("true", "false"):
        return Decision.refuse("variables.data_type", f"{name} takes true or false, not {value!r}")
    if kind == "dateTime":
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return Decision.refuse("variables.data_type", f"{name} takes a dateTime, not {value!r}")
    if kind in ("string", "SequenceList", "MemberList") and known.max_limit is not None \
            and len(value) > known.max_limit:
        return Decision.refuse("variables.max_limit", f"{name} takes at most {_shown(known.max_limit)} "
                                                      f"characters, not {len(value)}")
    allowed = _members(known.values_list)
    if allowed is not None and kind in ("OptionList", "SequenceList", "MemberList"):
        given = [value] if kind == "OptionList" else [item.strip() for item in value.split(",")]
        outside = [item for item in given if item not in allowed]
        if outside:
            return Decision.refuse("variables.values_list", f"{name} = {value!r}: {', '.join(outside)} not in "
                                                            f"its valuesList {known.values_list!r}")
    return Decision.allow()


def _shown(limit: float) -> str:
    return str(int(limit)) if limit == int(limit) else str(limit)


def clamp(value: int, min_limit: float | None, max_limit: float | None) -> int:
    """``value`` within the station's limits (a limit it did not report does not bind)."""
    if max_limit is not None and value > max_limit:
        value = math.floor(max_limit)
    if min_limit is not None and value < min_limit:
        value = math.ceil(min_limit)
    return value


def heartbeat_interval(wanted: int, min_limit: float | None, max_limit: float | None) -> int:
    """BootNotificationResponse.interval for a station whose HeartbeatInterval may only lie
    within [min_limit, max_limit]: a station told 300 s that accepts 1-10 would not heartbeat
    as we expect (it would keep its own or refuse). A limit no interval can be (below 1 s, beyond
    OCPP's 32 bits: a station may report -5 or 1e300) binds nothing: clamped to it, the answer was
    no valid BootNotificationResponse, and the station could never boot."""
    if wanted <= 0:
        return wanted
    usable = [limit if limit is not None and 1 <= limit <= INT32_MAX else None for limit in (min_limit, max_limit)]
    return clamp(wanted, *usable)


@dataclass(frozen=True)
class BaselineEntry:
    component: str
    variable: str
    value: str


def baseline(entries: tuple[str, ...]) -> list[BaselineEntry]:
    """``Component.Variable=value`` lines (checked when the policy loaded) as entries."""
    parsed = []
    for entry in entries:
        name, _, value = entry.partition("=")
        component, _, variable = name.partition(".")
        parsed.append(BaselineEntry(component.strip(), variable.strip(), value.strip()))
    return parsed


def baseline_value(entry: BaselineEntry, known: Characteristics) -> str:
    """The value to set: an integer clamped within the station's limits, else as configured."""
    if known.data_type == "integer":
        number = _number(entry.value, integer=True)
        if number is not None:
            return str(clamp(int(number), known.min_limit, known.max_limit))
    return entry.value
