"""Block O over REST: the display messages of a station, those we set (SetDisplayMessage, with the
station's answer) and those it reported (NotifyDisplayMessages after a GetDisplayMessages).
Setting, asking for and clearing them are the typed commands (``…/commands/SetDisplayMessage``,
``GetDisplayMessages``, ``ClearDisplayMessage``)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.core.audit import require_station, run_in_session
from api.csms.display import service
from api.rest import errors
from api.rest.auth import AnyRole, Ctx
from api.rest.numbers import INT32_MAX

router = APIRouter(tags=["display messages"])


class DisplayMessageOut(BaseModel):
    message_id: int
    priority: str
    state: str | None
    start_at: datetime | None
    end_at: datetime | None
    transaction_id: str | None
    format: str
    language: str | None
    content: str
    display_component: str | None
    origin: str = Field(description="csms: we set it; station: the station reported one we never set.")
    status: str = Field(description="requested (no answer yet); the station's answer Accepted, Rejected, "
                                    "NotSupportedMessageFormat, NotSupportedPriority, NotSupportedState, "
                                    "UnknownTransaction; cleared (ClearDisplayMessage Accepted), Unknown (the "
                                    "station did not know it when asked to clear it), reported; without an answer: "
                                    "error, timeout, not_connected, refused.")
    status_reason: str | None
    requested_by: str | None
    reported_at: datetime | None = Field(description="When the station last reported showing it.")
    updated_at: datetime


@router.get("/api/v1/stations/{station_id}/display-messages", response_model=list[DisplayMessageOut],
            responses=errors.responses(401, 403, 404, 503))
def display_messages(station_id: str, _principal: AnyRole, ctx: Ctx,
                     shown: bool = Query(False, description="Only those the station accepted or reported."),
                     limit: int = Query(256, ge=1, le=1000),
                     after_message_id: int | None = Query(None, ge=-INT32_MAX - 1, le=INT32_MAX,
                                                          description="Page: the last message_id seen.")
                     ) -> list[DisplayMessageOut]:
    """The station's display messages by id; page with ``after_message_id``: operators may set
    more than a page of them. Roles: officer, operator, auditor."""
    def read(session):
        require_station(session, station_id)
        return [DisplayMessageOut.model_validate(row, from_attributes=True) for row in service.listed(
            session, station_id, shown=shown, limit=limit, after_message_id=after_message_id)]
    return run_in_session(ctx, read)
