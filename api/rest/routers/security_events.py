"""Security events: those stations report (SecurityEventNotification) and those the CSMS raises."""

from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import Session, select

from api.core.audit import run_in_session
from api.rest import errors
from api.rest.auth import AnyRole, Ctx
from api.rest.instants import AwareInstant
from api.rest.paging import Before, Limit, newest_first
from api.rest.schemas import SecurityEventOut, SecurityEventPage
from storage.filters import where_given
from storage.security_events import SecurityEvent

router = APIRouter(prefix="/api/v1/security-events", tags=["security events"])


@router.get("", response_model=SecurityEventPage, responses=errors.responses(401, 403, 422, 503))
def list_events(_principal: AnyRole, ctx: Ctx, station_id: str | None = None, type: str | None = None,  # noqa: A002
                critical: bool | None = None, since: AwareInstant | None = None, before: Before = None,
                limit: Limit = 100) -> SecurityEventPage:
    """Security events, newest first. Filters: `station_id`, `type` (e.g. InvalidCsmsCertificate),
    `critical`, `since` (occurrence time, ISO 8601 with time zone). Page with `before`.
    Roles: officer, operator, auditor."""
    query = where_given(select(SecurityEvent), (SecurityEvent.station_id, station_id), (SecurityEvent.type, type),
                        (SecurityEvent.critical, critical))
    if since is not None:
        query = query.where(SecurityEvent.occurred_at >= since)

    def page(session: Session) -> SecurityEventPage:
        rows, next_before = newest_first(session, query, SecurityEvent.id, before=before, limit=limit)
        return SecurityEventPage(events=[SecurityEventOut.of(r) for r in rows], next_before=next_before)

    return run_in_session(ctx, page)
