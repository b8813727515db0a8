"""The per-station OCPP message log: browse, filter, export (reading only).

Roles: officer and auditor, as the audit log. The frames are redacted (no password, key or
idToken; README "OCPP message log"), but they still show what each customer's sessions did, when
and where (pseudonymised tokens, transactions, customer-information requests): that is oversight,
not station operations.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlmodel import Session

from api.core import csv_cells
from api.core.audit import audited
from api.core.context import Context
from api.operations.stations import STATION_ID_MAX
from api.rest import errors
from api.rest.auth import Ctx, Oversight, Principal
from api.rest.instants import AwareInstant, require_window
from api.rest.paging import BigBefore, Limit, page_of
from storage.db import read_scope
from storage.message_log import MessageQuery, OcppMessage, frames, message_log_engine

router = APIRouter(prefix="/api/v1/message-log", tags=["message log"])

Direction = Literal["in", "out"]
Kind = Literal["CALL", "CALLRESULT", "CALLERROR", "MALFORMED"]
_EXPORT_CHUNK = 1000
# No station's id is longer; the export names the station in its audit entry.
StationFilter = Annotated[str | None, Query(max_length=STATION_ID_MAX)]
T = TypeVar("T")


class MessageOut(BaseModel):
    id: int = Field(description="Grows with the order the gateway saw the frames in; the paging key.")
    station_id: str
    direction: Direction = Field(description="`in`: from the station; `out`: to it.")
    kind: Kind
    message_id: str | None
    action: str | None = Field(description="A CALL's action; for a CALLRESULT or CALLERROR, the action of the "
                                           "CALL it answers (null when it answers none we know).")
    at: datetime = Field(description="When the gateway read or wrote it (server clock).")
    size: int = Field(description="Bytes of the frame on the wire.")
    frame: str = Field(description="The frame's text, redacted; cut when `truncated`.")
    truncated: bool

    @classmethod
    def of(cls, row: OcppMessage) -> MessageOut:
        return cls.model_validate(row, from_attributes=True)


class MessagePage(BaseModel):
    messages: list[MessageOut]
    next_before: int | None = Field(description="Pass as `before` for the next (older) page; null on the last.")


def _criteria(station_id: str | None, action: str | None, direction: Direction | None, kind: Kind | None,
              message_id: str | None, since: datetime | None, until: datetime | None) -> MessageQuery:
    require_window(since, until)
    return MessageQuery(station_id=station_id, action=action, direction=direction, kind=kind,
                        message_id=message_id, since=since, until=until)


@router.get("", response_model=MessagePage, responses=errors.responses(401, 403, 422, 503))
def list_messages(_principal: Oversight, ctx: Ctx, station_id: StationFilter = None, action: str | None = None,
                  direction: Direction | None = None, kind: Kind | None = None, message_id: str | None = None,
                  since: AwareInstant | None = None, until: AwareInstant | None = None, before: BigBefore = None,
                  limit: Limit = 100) -> MessagePage:
    """Logged OCPP frames, newest first. Filters: `station_id`, `action` (one of OCPP's in any
    case, any other exactly), `direction`, `kind`,
    `message_id` (a CALL and its answer share it), `since`/`until` (server time, ISO 8601 with a
    time zone; `until` excluded). Page with `before`. Roles: officer, auditor."""
    criteria = _criteria(station_id, action, direction, kind, message_id, since, until)

    def page(session: Session) -> MessagePage:
        rows, next_before = page_of(frames(session, criteria, newest_first=True, beyond=before, limit=limit + 1),
                                    limit, "id")
        return MessagePage(messages=[MessageOut.of(row) for row in rows], next_before=next_before)

    return _read(ctx, page)


@router.get("/export", responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}},
                                  **errors.responses(401, 403, 422, 503)})
def export_messages(principal: Oversight, ctx: Ctx, station_id: StationFilter = None, action: str | None = None,
                    direction: Direction | None = None, kind: Kind | None = None, message_id: str | None = None,
                    since: AwareInstant | None = None, until: AwareInstant | None = None,
                    format: Annotated[Literal["jsonl", "csv"], Query(description="JSON lines or CSV.")] = "jsonl",
                    ) -> StreamingResponse:
    """Every logged frame the filters select, oldest first, as a download: JSON lines (one
    object per frame, the fields of the listing) or CSV with the same columns. Streamed chunk by
    chunk, each read in its own short transaction. Roles: officer, auditor."""
    criteria = _criteria(station_id, action, direction, kind, message_id, since, until)
    _audit_export(ctx, principal, criteria, format)
    if format == "csv":
        return StreamingResponse(_csv(ctx, criteria), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="ocpp-messages.csv"'})
    return StreamingResponse(_jsonl(ctx, criteria), media_type="application/x-ndjson",
                             headers={"Content-Disposition": 'attachment; filename="ocpp-messages.jsonl"'})


def _read(ctx: Context, work: Callable[[Session], T]) -> T:
    with read_scope(message_log_engine(ctx.engine)) as session:
        return work(session)


def _audit_export(ctx: Context, principal: Principal, criteria: MessageQuery, format: str) -> None:
    """A download takes every customer's sessions out of the system: who took which, and when."""
    chosen = {name: value.isoformat() if isinstance(value, datetime) else value
              for name, value in dataclasses.asdict(criteria).items() if value is not None}
    with audited(ctx, principal.actor, "message_log.export", criteria.station_id or "*") as (_session, detail):
        detail.update(filters=chosen, format=format)


def _chunks(ctx: Context, criteria: MessageQuery) -> Iterator[list[MessageOut]]:
    after_id = None
    while True:
        rows = _read(ctx, functools.partial(frames, criteria=criteria, newest_first=False, beyond=after_id,
                                            limit=_EXPORT_CHUNK))
        yield [MessageOut.of(row) for row in rows]
        if len(rows) < _EXPORT_CHUNK:
            return
        after_id = rows[-1].id


def _jsonl(ctx: Context, criteria: MessageQuery) -> Iterator[str]:
    for chunk in _chunks(ctx, criteria):
        yield "".join(message.model_dump_json() + "\n" for message in chunk)


_COLUMNS = list(MessageOut.model_fields)


def _csv(ctx: Context, criteria: MessageQuery) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(_COLUMNS)
    for chunk in _chunks(ctx, criteria):
        for message in chunk:
            row = message.model_dump(mode="json")
            writer.writerow(csv_cells.written(row[column]) for column in _COLUMNS)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
