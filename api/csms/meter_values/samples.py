"""MeterValueType payloads read into rows: one ``Sample`` per sampledValue, the spec's defaults
filled in (measurand Energy.Active.Import.Register, context Sample.Periodic, multiplier 0), the
signed meter value copied as sent."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, NamedTuple, NoReturn

from ocpp.v201.enums import MeasurandEnumType, ReadingContextEnumType

from api.ocpp.framing import ErrorCode, OcppError
from api.ocpp.handler import parse_datetime

DEFAULT_MEASURAND = MeasurandEnumType.energy_active_import_register.value
DEFAULT_CONTEXT = ReadingContextEnumType.sample_periodic.value
_ENERGY_SCALE = {"Wh": 1.0, "kWh": 1000.0}
_ABSENT: dict[str, Any] = {}  # never written: an absent optional object, without a new dict each time


class Sample(NamedTuple):
    """One sampledValue as stored. A NamedTuple, not a frozen dataclass: as immutable, and built
    in a quarter of the time (a frozen dataclass sets each of its 12 fields through
    object.__setattr__); a charging fleet sends four or more a second per station."""

    sampled_at: datetime
    measurand: str
    context: str
    value: float
    phase: str | None = None
    location: str | None = None
    unit: str | None = None
    multiplier: int = 0
    signed_meter_data: str | None = None
    signing_method: str | None = None
    encoding_method: str | None = None
    public_key: str | None = None

    def stored(self) -> dict[str, Any]:
        """This sample as it is kept in its reading's ``sampled_values`` (storage/meter_values.py):
        every field but the reading's time, those without a value left out."""
        return {name: value for name, value in zip(_STORED, self[1:]) if value is not None}

    @classmethod
    def of_stored(cls, sampled_at: datetime, stored: dict[str, Any]) -> Sample:
        return cls(sampled_at, **stored)

    @property
    def register_wh(self) -> float | None:
        """This sample as the station's import register in Wh, when it is one: the whole EVSE's
        (no phase), in Wh or kWh with the multiplier applied."""
        if self.measurand != DEFAULT_MEASURAND or self.phase is not None:
            return None
        scale = _ENERGY_SCALE.get(self.unit or "Wh")
        if scale is None:
            return None
        try:
            # 10.0, not 10: an integer power is built whole, and a station's multiplier of 2^31-1
            # held the event loop for good; a float power past a double raises at once.
            return self.value * scale * 10.0 ** self.multiplier
        except OverflowError:
            return math.inf


# The fields a reading keeps per sample (its time is the reading's).
_STORED = Sample._fields[1:]
assert Sample._fields[0] == "sampled_at"


def samples(meter_values: list[dict[str, Any]], *, default_context: str = DEFAULT_CONTEXT) -> list[Sample]:
    """Every sampledValue of ``meter_values`` (MeterValueType items, schema-checked); a timestamp
    that is no date-time, or a value that is no finite number (JSON parsers let 1e400 and NaN
    through as numbers), raises OcppError naming the item, as does an import register whose
    value in Wh is none (1e308 kWh, or 1 with a multiplier of 400: no energy could be told)."""
    read = []
    for index, meter_value in enumerate(meter_values):
        at = parse_datetime(meter_value["timestamp"], f"meterValue[{index}].timestamp")
        for position, sampled in enumerate(meter_value["sampledValue"]):
            if not _finite(sampled["value"]):
                _refuse(index, position, "is not a finite number")
            unit = sampled.get("unitOfMeasure", _ABSENT)
            sample = Sample(
                sampled_at=at, measurand=sampled.get("measurand", DEFAULT_MEASURAND),
                context=sampled.get("context", default_context), value=float(sampled["value"]),
                phase=sampled.get("phase"), location=sampled.get("location"), unit=unit.get("unit"),
                multiplier=unit.get("multiplier", 0))
            signed = sampled.get("signedMeterValue")
            if signed is not None:  # all four fields are required by the schema
                sample = sample._replace(
                    signed_meter_data=signed["signedMeterData"], signing_method=signed["signingMethod"],
                    encoding_method=signed["encodingMethod"], public_key=signed["publicKey"])
            wh = sample.register_wh
            if wh is not None and not math.isfinite(wh):
                _refuse(index, position, "is not a finite number of Wh (value × 10^multiplier)")
            read.append(sample)
    return read


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:   # an integer of more digits than a double holds (JSON allows 400 of them)
        return False


def _refuse(index: int, position: int, problem: str) -> NoReturn:
    where = f"meterValue[{index}].sampledValue[{position}].value"
    raise OcppError(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, f"{where} {problem}", {"field": where})
