"""Storing and reading meter values (J01-J03, and those of TransactionEvent): no OCPP here."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, select

from api.csms.meter_values.samples import Sample
from storage.driver import DriverWrite
from storage.filters import where_given
from storage.meter_values import MeterValue
from storage.types import utcnow

INSERT = DriverWrite(insert(MeterValue.__table__))


def store(session: Session, station_id: str, evse_id: int | None, samples: Sequence[Sample], *,
          transaction_pk: int | None = None, transaction_id: str | None = None,
          received_at: datetime | None = None) -> int:
    """One row per sample, in one multi-row insert; how many."""
    found = rows(station_id, evse_id, samples, transaction_pk=transaction_pk, transaction_id=transaction_id,
                 received_at=received_at or utcnow())
    insert_rows(session, found)
    return len(found)


def rows(station_id: str, evse_id: int | None, samples: Sequence[Sample], *, transaction_pk: int | None,
         transaction_id: str | None, received_at: datetime) -> list[dict[str, Any]]:
    """The meter_value rows of ``samples``, for ``insert_rows`` (several messages' at once)."""
    return [{**sample.columns(), "station_id": station_id, "evse_id": evse_id, "transaction_pk": transaction_pk,
             "transaction_id": transaction_id, "received_at": received_at} for sample in samples]


def insert_rows(session: Session, found: list[dict[str, Any]]) -> None:
    # Driver-level (storage/driver.py): even a Core executemany cost more than the insert itself.
    INSERT.run(session.connection(), found)


@dataclass(frozen=True)
class MeterValueQuery:
    station_id: str | None = None
    transaction_pk: int | None = None
    measurand: str | None = None
    since: datetime | None = None      # sampled_at >= since
    until: datetime | None = None      # sampled_at < until


def _select(query: MeterValueQuery):
    statement = where_given(select(MeterValue), (MeterValue.station_id, query.station_id),
                            (MeterValue.transaction_pk, query.transaction_pk), (MeterValue.measurand, query.measurand))
    if query.since is not None:
        statement = statement.where(MeterValue.sampled_at >= query.since)
    if query.until is not None:
        statement = statement.where(MeterValue.sampled_at < query.until)
    return statement.order_by(MeterValue.sampled_at, MeterValue.id)


def page(session: Session, query: MeterValueQuery, *, after_id: int | None, limit: int) -> list[MeterValue]:
    """Up to ``limit`` rows in (sampled_at, id) order; ``after_id`` continues after that row."""
    statement = _select(query)
    if after_id is not None:
        last = session.get(MeterValue, after_id)
        if last is not None:
            statement = statement.where((MeterValue.sampled_at > last.sampled_at)
                                        | ((MeterValue.sampled_at == last.sampled_at) & (MeterValue.id > after_id)))
    return list(session.exec(statement.limit(limit)))


def stream(session: Session, query: MeterValueQuery, *, chunk: int = 1000) -> Iterator[MeterValue]:
    """Every row of ``query``, read ``chunk`` at a time (a long range never sits in memory whole)."""
    after_id = None
    while True:
        rows = page(session, query, after_id=after_id, limit=chunk)
        yield from rows
        if len(rows) < chunk:
            return
        after_id = rows[-1].id
