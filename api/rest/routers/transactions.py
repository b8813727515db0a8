"""Transactions and meter values as stations reported them (blocks E, J): reading only.

Roles: officer, operator, auditor. Meter values come as JSON pages or as CSV (``?format=csv`` or
``Accept: text/csv``), the CSV streamed chunk by chunk so a long range never sits in memory.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from ocpp.v201.enums import MeasurandEnumType
from pydantic import BaseModel, Field
from sqlmodel import Session

from api.core import csv_cells
from api.core.audit import run_in_session
from api.core.context import Context
from api.csms.meter_values import service as meter_values
from api.csms.transactions import service
from api.rest import errors
from api.rest.auth import AnyRole, Ctx
from api.rest.errors import ApiError
from api.rest.instants import AwareInstant, require_window
from api.rest.paging import Before, Limit, newest_first
from api.rest.routers.station_ops import TransactionsSettled
from storage.transactions import Transaction, TransactionEvent

router = APIRouter(tags=["transactions"])

State = Literal["ongoing", "ended"]
# MeasurandEnumType, which the stations' messages are held to: a misspelt measurand matched no
# value, and its CSV export came back empty with a 200.
Measurand = Literal[tuple(m.value for m in MeasurandEnumType)]  # type: ignore[valid-type]


class TransactionOut(BaseModel):
    station_id: str
    transaction_id: str = Field(description="As the station reported it.")
    state: State
    evse_id: int | None
    connector_id: int | None
    id_token: str | None = Field(description="The first idToken the transaction carried.")
    id_token_type: str | None
    id_tokens_seen: list[dict[str, Any]] = Field(description="Every distinct idToken seen (at most 8).")
    started_at: datetime | None = Field(description="The Started event's timestamp (station clock); while "
                                                    "`unknown_start`, the earliest event's.")
    ended_at: datetime | None
    start_trigger: str | None
    stop_trigger: str | None
    stopped_reason: str | None
    charging_state: str | None = Field(description="The latest reported (by the station's timestamps).")
    remote_start_id: int | None
    reservation_id: int | None
    energy_wh: float | None = Field(description="Energy.Active.Import.Register, last minus first reading, in Wh.")
    meter_first_wh: float | None
    meter_last_wh: float | None
    events: int
    offline_events: int
    seq_missing: int = Field(description="seqNos between the lowest and highest received that never arrived.")
    seq_duplicates: int = Field(description="Events whose seqNo had been received already (kept, flagged).")
    unknown_start: bool = Field(description="Updated/Ended events arrived for it but no Started (yet).")

    @classmethod
    def of(cls, row: Transaction) -> TransactionOut:
        return cls(station_id=row.station_id, transaction_id=row.transaction_id,
                   state="ended" if row.ended_at else "ongoing", evse_id=row.evse_id, connector_id=row.connector_id,
                   id_token=row.id_token, id_token_type=row.id_token_type,
                   id_tokens_seen=json.loads(row.id_tokens_seen), started_at=row.started_at, ended_at=row.ended_at,
                   start_trigger=row.start_trigger, stop_trigger=row.stop_trigger,
                   stopped_reason=row.stopped_reason, charging_state=row.charging_state,
                   remote_start_id=row.remote_start_id, reservation_id=row.reservation_id, energy_wh=row.energy_wh,
                   meter_first_wh=row.meter_first_wh, meter_last_wh=row.meter_last_wh, events=row.events,
                   offline_events=row.offline_events, seq_missing=row.seq_missing,
                   seq_duplicates=row.seq_duplicates, unknown_start=row.unknown_start)


class TransactionPage(BaseModel):
    transactions: list[TransactionOut] = Field(description="Newest first (by when the CSMS first heard of them).")
    next_before: int | None = Field(description="Pass as `before` for the next page; null at the end.")


class EventOut(BaseModel):
    seq_no: int
    event_type: str
    trigger_reason: str
    timestamp: datetime
    received_at: datetime
    offline: bool
    duplicate: bool = Field(description="This seqNo had been received before.")
    charging_state: str | None
    stopped_reason: str | None
    id_token: str | None
    id_token_type: str | None
    evse_id: int | None
    connector_id: int | None
    remote_start_id: int | None
    reservation_id: int | None
    number_of_phases_used: int | None
    cable_max_current: int | None
    time_spent_charging: int | None

    @classmethod
    def of(cls, row: TransactionEvent) -> EventOut:
        return cls(**{name: getattr(row, name) for name in cls.model_fields})


class MeterValueOut(BaseModel):
    id: int = Field(description="The reading's: the MeterValue (one timestamp) this value came in.")
    position: int = Field(description="Its place among the reading's values, from 0.")
    station_id: str
    evse_id: int | None
    transaction_id: str | None
    sampled_at: datetime
    received_at: datetime
    measurand: str
    phase: str | None
    location: str | None
    context: str
    unit: str | None
    multiplier: int
    value: float
    signed_meter_data: str | None = Field(description="Exactly as the station sent it (base64 text).")
    signing_method: str | None
    encoding_method: str | None
    public_key: str | None

    @classmethod
    def of(cls, row: meter_values.SampledValue) -> MeterValueOut:
        return cls(**{name: getattr(row, name) for name in cls.model_fields})


class ChargingStateOut(BaseModel):
    at: datetime
    charging_state: str


class StatusAnswerOut(BaseModel):
    answered_at: datetime
    messages_in_queue: bool
    ongoing_indicator: bool | None
    asked_by: str


class TransactionDetailOut(TransactionOut):
    missing_seq_nos: list[int] = Field(description="The first 1000 missing seqNos.")
    charging_states: list[ChargingStateOut] = Field(description="The charging-state timeline: its first "
                                                                "10,000 changes.")
    event_list: list[EventOut] = Field(description="By seqNo, then arrival: the first 10,000 (`events` counts "
                                                   "all received; a seqNo repeated more than 100 times in a "
                                                   "transaction is counted, not kept again).")
    status_answers: list[StatusAnswerOut] = Field(description="The station's GetTransactionStatus answers about "
                                                              "it (E14), oldest first.")
    meter_values: list[MeterValueOut] = Field(description="The first 10,000 by time (whole readings); the rest "
                                                          "through /api/v1/meter-values.")


class MeterValuePage(BaseModel):
    meter_values: list[MeterValueOut] = Field(description="Oldest first (by the station's timestamps).")
    next_after: str | None = Field(description="Pass as `after` for the next page; null at the end. A page "
                                               "ends with a whole reading, so it may hold a few more than `limit`. "
                                               "It names a time and a reading, and stays valid when that reading "
                                               "is removed by retention meanwhile.")


_DETAIL_METER_VALUES = 10_000


@router.get("/api/v1/transactions", response_model=TransactionPage, responses=errors.responses(401, 403, 422, 503))
def list_transactions(_principal: AnyRole, ctx: Ctx, _settled: TransactionsSettled, station_id: str | None = None,
                      id_token: str | None = None,
                      state: State | None = None, since: AwareInstant | None = None,
                      until: AwareInstant | None = None, before: Before = None,
                      limit: Limit = 100) -> TransactionPage:
    """Transactions, newest first. Filters: `station_id`, `id_token` (the first token of the
    transaction), `state` (ongoing, ended), `since`/`until` (start time, ISO 8601 with a zone).
    Page with `before`. Roles: officer, operator, auditor."""
    require_window(since, until)
    statement = service.query(service.TransactionQuery(station_id, id_token, state, since, until))

    def page(session: Session) -> TransactionPage:
        rows, next_before = newest_first(session, statement, Transaction.id, before=before, limit=limit)
        return TransactionPage(transactions=[TransactionOut.of(row) for row in rows], next_before=next_before)

    return run_in_session(ctx, page)


# The rest of the path: a transactionId is any string of up to 36 characters, "/" and "" included.
@router.get("/api/v1/transactions/{station_id}/{transaction_id:path}", response_model=TransactionDetailOut,
            responses=errors.responses(401, 403, 404, 422, 503))
def get_transaction(_principal: AnyRole, ctx: Ctx, _settled: TransactionsSettled, station_id: str,
                    transaction_id: str) -> TransactionDetailOut:
    """One transaction with its events, its seqNo gaps, its charging-state timeline and its meter
    values. Roles: officer, operator, auditor."""

    def read(session: Session) -> TransactionDetailOut | None:
        found = service.detail(session, station_id, transaction_id)
        if found is None:
            return None
        values = meter_values.page(session, meter_values.MeterValueQuery(transaction_pk=found.transaction.id),
                                   after=None, limit=_DETAIL_METER_VALUES).values
        return TransactionDetailOut(
            **TransactionOut.of(found.transaction).model_dump(), missing_seq_nos=found.missing_seq_nos,
            charging_states=[ChargingStateOut(at=at, charging_state=state) for at, state in found.charging_states],
            event_list=[EventOut.of(event) for event in found.events],
            status_answers=[StatusAnswerOut(**{name: getattr(answer, name) for name in StatusAnswerOut.model_fields})
                            for answer in found.status_answers],
            meter_values=[MeterValueOut.of(row) for row in values])

    detail = run_in_session(ctx, read)
    if detail is None:
        raise ApiError(404, f"no transaction {transaction_id!r} of station {station_id!r}", rule="transaction.unknown")
    return detail


_CSV_COLUMNS = list(MeterValueOut.model_fields)


def _criteria(ctx: Context, station_id: str | None, transaction_id: str | None, measurand: str | None,
              since: datetime | None, until: datetime | None) -> meter_values.MeterValueQuery:
    require_window(since, until)
    transaction_pk = None
    if transaction_id is not None:
        if station_id is None:
            raise ApiError(422, "transaction_id is a station's own: give station_id with it", rule="query.station",
                           field="query.station_id")
        row = run_in_session(ctx, lambda s: service.transaction_row(s, station_id, transaction_id))
        if row is None:
            raise ApiError(404, f"no transaction {transaction_id!r} of station {station_id!r}",
                           rule="transaction.unknown")
        transaction_pk = row.id
    return meter_values.MeterValueQuery(station_id, transaction_pk, measurand, since, until)


def _csv(ctx: Context, criteria: meter_values.MeterValueQuery) -> Iterator[str]:
    """The rows as CSV, one short transaction per chunk (a slow client holds no transaction open)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(_CSV_COLUMNS)
    after = None
    while True:
        found = run_in_session(ctx, lambda s: meter_values.page(s, criteria, after=after, limit=1000))
        for value in found.values:
            writer.writerow([_csv_cell(getattr(value, name)) for name in _CSV_COLUMNS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if found.next_after is None:
            return
        after = found.next_after


def _csv_cell(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else ("" if value is None else csv_cells.written(value))


After = Annotated[str | None, Query(max_length=40, description="Only values after this point (a page's "
                                                                "`next_after`).")]


@router.get("/api/v1/meter-values", response_model=MeterValuePage,
            responses={200: {"content": {"text/csv": {}}}, **errors.responses(401, 403, 404, 422, 503)})
def list_meter_values(request: Request, _principal: AnyRole, ctx: Ctx, _settled: TransactionsSettled,
                      station_id: str | None = None,
                      transaction_id: str | None = None, measurand: Measurand | None = None,
                      since: AwareInstant | None = None, until: AwareInstant | None = None,
                      format: Literal["json", "csv"] | None = None,  # noqa: A002
                      after: After = None, limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> Any:
    """Meter values, oldest first by the station's timestamps. Filters: `station_id`,
    `transaction_id` (with `station_id`), `measurand`, `since`/`until` (sampling time). JSON pages
    (`after`, `limit`), or the whole range as streamed CSV with `format=csv` or `Accept: text/csv`
    (no paging: `after` or `limit` with it is refused). Signed meter values come byte-exact. Roles:
    officer, operator, auditor."""
    criteria = _criteria(ctx, station_id, transaction_id, measurand, since, until)
    wants_csv = format == "csv" or (format is None and "text/csv" in request.headers.get("accept", ""))
    if wants_csv:
        # Ignored, a page asked for would come back as the whole range, its client none the wiser.
        for name in ("after", "limit"):
            if name in request.query_params:
                raise ApiError(422, f"{name}: a CSV export is the whole range, not a page; narrow it with "
                                    "since/until, or page the JSON", rule="query.csv_paging", field=f"query.{name}")
        return StreamingResponse(_csv(ctx, criteria), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="meter-values.csv"'})
    position = None
    if after is not None:
        try:
            position = meter_values.Position.of_token(after)
        except ValueError as exc:
            raise ApiError(422, f"after: {exc}", rule="query.after", field="query.after") from None
    found = run_in_session(ctx, lambda s: meter_values.page(s, criteria, after=position, limit=limit))
    return MeterValuePage(meter_values=[MeterValueOut.of(value) for value in found.values],
                          next_after=None if found.next_after is None else found.next_after.token())
