"""Storing and reading meter values (J01-J03, and those of TransactionEvent): no OCPP here."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from itertools import groupby
from operator import attrgetter
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, select

from api.csms.meter_values.samples import Sample
from storage.driver import DriverWrite
from storage.filters import where_given
from storage.meter_values import MeterReading
from storage.types import utcnow

INSERT = DriverWrite(insert(MeterReading.__table__))


def store(session: Session, station_id: str, evse_id: int | None, samples: Sequence[Sample], *,
          transaction_pk: int | None = None, transaction_id: str | None = None,
          received_at: datetime | None = None) -> int:
    """One row per reading, in one multi-row insert; how many sampled values."""
    found = rows(station_id, evse_id, samples, transaction_pk=transaction_pk, transaction_id=transaction_id,
                 received_at=received_at or utcnow())
    insert_rows(session, found)
    return len(samples)


def rows(station_id: str, evse_id: int | None, samples: Sequence[Sample], *, transaction_pk: int | None,
         transaction_id: str | None, received_at: datetime) -> list[dict[str, Any]]:
    """The meter_reading rows of ``samples``, for ``insert_rows`` (several messages' at once): one
    per run of samples with the same time, which is one per MeterValue (two MeterValues of one
    message with the same timestamp make one reading, their values in the order sent)."""
    found: list[dict[str, Any]] = []
    for at, same_time in groupby(samples, key=_SAMPLED_AT):
        kept = [sample.stored() for sample in same_time]
        found.append({"station_id": station_id, "evse_id": evse_id, "transaction_pk": transaction_pk,
                      "transaction_id": transaction_id, "sampled_at": at, "received_at": received_at,
                      "sampled_count": len(kept), "sampled_values": _dumps(kept)})
    return found


_SAMPLED_AT = attrgetter("sampled_at")


def insert_rows(session: Session, found: list[dict[str, Any]]) -> None:
    # Driver-level (storage/driver.py): even a Core executemany cost more than the insert itself.
    INSERT.run(session.connection(), found)


# Compact, and ASCII (the default): a string that is no valid UTF-8 on its own (a lone surrogate)
# is kept as its escape.
_dumps = json.JSONEncoder(separators=(",", ":")).encode


@dataclass(frozen=True)
class SampledValue:
    """One sampled value as stored: its reading's columns, then the sample's fields."""

    id: int                      # the reading's
    position: int                # its place in the reading, from 0
    station_id: str
    evse_id: int | None
    transaction_pk: int | None
    transaction_id: str | None
    received_at: datetime
    sampled_at: datetime         # from here on, Sample's fields in its order
    measurand: str
    context: str
    value: float
    phase: str | None
    location: str | None
    unit: str | None
    multiplier: int
    signed_meter_data: str | None
    signing_method: str | None
    encoding_method: str | None
    public_key: str | None


assert tuple(field.name for field in fields(SampledValue))[7:] == Sample._fields


def sampled_values(reading: MeterReading) -> list[SampledValue]:
    """The sampled values of ``reading``, in the order the station sent them."""
    return [SampledValue(reading.id, position, reading.station_id, reading.evse_id,  # type: ignore[arg-type]
                         reading.transaction_pk, reading.transaction_id, reading.received_at,
                         *Sample.of_stored(reading.sampled_at, stored))
            for position, stored in enumerate(json.loads(reading.sampled_values))]


@dataclass(frozen=True)
class MeterValueQuery:
    station_id: str | None = None
    transaction_pk: int | None = None
    measurand: str | None = None
    since: datetime | None = None      # sampled_at >= since
    until: datetime | None = None      # sampled_at < until


def _select(query: MeterValueQuery):
    statement = where_given(select(MeterReading), (MeterReading.station_id, query.station_id),
                            (MeterReading.transaction_pk, query.transaction_pk))
    if query.measurand is not None:
        # Only readings that may hold it (the text it has in the JSON); which of their values
        # do is decided on reading them.
        pattern = f'"measurand":{_dumps(query.measurand)}'
        escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        statement = statement.where(MeterReading.sampled_values.like(f"%{escaped}%", escape="\\"))  # type: ignore[attr-defined]
    if query.since is not None:
        statement = statement.where(MeterReading.sampled_at >= query.since)
    if query.until is not None:
        statement = statement.where(MeterReading.sampled_at < query.until)
    return statement.order_by(MeterReading.sampled_at, MeterReading.id)


@dataclass(frozen=True)
class Position:
    """Where a page ended: its last reading's sampling time and id. The pair, not the id alone:
    by the next page that reading may be gone (retention removes the oldest months), and what
    comes after it is still defined."""

    sampled_at: datetime
    reading_id: int

    def token(self) -> str:
        """The position as a short URL-safe text: microseconds since the epoch, a dot, the id."""
        return f"{(self.sampled_at - _EPOCH) // _MICROSECOND}.{self.reading_id}"

    @classmethod
    def of_token(cls, text: str) -> Position:
        """The position ``token`` gave; ValueError, saying what is wrong, for any other text."""
        found = _TOKEN.fullmatch(text)
        if found is None:
            raise ValueError("not a position this service gave (microseconds, a dot, a reading id)")
        try:
            at = _EPOCH + int(found[1]) * _MICROSECOND
        except OverflowError:
            raise ValueError("its time is outside the years 1 to 9999") from None
        reading_id = int(found[2])
        if reading_id > _ID_MAX:
            raise ValueError("its reading id is larger than any id")
        return cls(at, reading_id)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
_TOKEN = re.compile(r"(-?[0-9]{1,18})\.([0-9]{1,19})", re.ASCII)
_ID_MAX = 2**63 - 1


def _matching(session: Session, query: MeterValueQuery, after: Position | None,
              chunk: int) -> Iterator[SampledValue]:
    """The values of ``query``'s readings after ``after``, in (time, reading, position) order,
    read ``chunk`` readings at a time."""
    while True:
        statement = _select(query)
        if after is not None:
            statement = statement.where(
                (MeterReading.sampled_at > after.sampled_at)
                | ((MeterReading.sampled_at == after.sampled_at) & (MeterReading.id > after.reading_id)))
        readings = list(session.exec(statement.limit(chunk)))
        for reading in readings:
            for value in sampled_values(reading):
                if query.measurand is None or value.measurand == query.measurand:
                    yield value
        if len(readings) < chunk:
            return
        after = Position(readings[-1].sampled_at, readings[-1].id)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Page:
    values: list[SampledValue]
    next_after: Position | None  # the last reading of the page, when more follow; else None


def page(session: Session, query: MeterValueQuery, *, after: Position | None, limit: int) -> Page:
    """At least ``limit`` values (fewer at the end) in (sampled_at, reading, position) order, and
    whole readings: a page ends where a reading does. ``after`` continues after that reading."""
    values: list[SampledValue] = []
    for value in _matching(session, query, after, chunk=min(limit + 1, 1000)):
        if len(values) >= limit and value.id != values[-1].id:
            return Page(values, Position(values[-1].sampled_at, values[-1].id))
        values.append(value)
    return Page(values, None)
