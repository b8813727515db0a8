"""The audit log: reading it and checking its hash chain.

Readable by officers and auditors, not operators: the log records what operators did, and the
people it holds to account should not be the ones reviewing it.
"""

from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import Session, select

from api.core.audit import run_in_session
from api.rest import errors
from api.rest.auth import Ctx, Oversight
from api.rest.instants import AwareInstant
from api.rest.paging import Before, Limit, newest_first
from api.rest.schemas import AuditEntryOut, AuditPage
from storage import audit
from storage.audit import AuditEntry
from storage.filters import where_given

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("", response_model=AuditPage, responses=errors.responses(401, 403, 422, 503))
def list_entries(_principal: Oversight, ctx: Ctx, actor: str | None = None, action: str | None = None,
                 target: str | None = None, since: AwareInstant | None = None, before: Before = None,
                 limit: Limit = 100) -> AuditPage:
    """Audit entries, newest first. Filters: `actor` (e.g. token:<id>, cli:<user>), `action`
    (e.g. certificate.sign), `target` (what was acted on, e.g. a station's id), `since` (ISO 8601
    with time zone). Page with `before`. Roles: officer, auditor."""
    query = where_given(select(AuditEntry), (AuditEntry.actor, actor), (AuditEntry.action, action),
                        (AuditEntry.target, target))
    if since is not None:
        query = query.where(AuditEntry.at >= since)

    def page(session: Session) -> AuditPage:
        rows, next_before = newest_first(session, query, AuditEntry.seq, before=before, limit=limit)
        return AuditPage(entries=[AuditEntryOut.of(r) for r in rows], next_before=next_before)

    return run_in_session(ctx, page)


@router.get("/verify", response_model=audit.ChainReport, responses=errors.responses(401, 403, 503))
def verify_chain(_principal: Oversight, ctx: Ctx) -> audit.ChainReport:
    """Check the hash chain from the first entry to the head. `ok` false names the first entry
    whose link or content is broken. Record `head_hash` elsewhere to detect a rebuilt chain.
    Roles: officer, auditor."""
    return run_in_session(ctx, audit.verify_chain)
