"""The audit records around an operator's CSMS-initiated call: before it leaves, and its outcome."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from api.core.audit import Actor, audited, record_failure, require_station
from api.core.context import Context
from api.csms.outbox.purposes import OPERATOR_JOB
from storage import audit
from storage.db import read_scope, session_scope
from storage.outbox import OutboundCall
from storage.stations import Station


def one_job(session: Session, station_id: str, action: str, payload: dict[str, Any], created_by: str,
            answer_timeout: float | None = None) -> OutboundCall:
    row = OutboundCall(station_id=station_id, action=action, payload=json.dumps(payload), purpose=OPERATOR_JOB,
                       created_by=created_by, answer_timeout=answer_timeout)
    session.add(row)
    session.flush()
    return row


Check = Callable[[Session, Station, str, dict[str, Any]], None]
CALL, CALL_RESULT, CALL_CANCEL = "station.call", "station.call.result", "station.call.cancel"


def begin_station_call(ctx: Context, actor: Actor, station_id: str, action: str, payload: dict[str, Any], *,
                       check: Check,
                       store: Callable[[Session, str, str, dict[str, Any]], OutboundCall] | None = None,
                       ) -> OutboundCall:
    """Check and store an operator's CSMS-initiated call as a job, with its audit entry, in one
    transaction, before it is sent.

    ``check(session, station, action, payload)`` raises Refusal (RoleRequired for a
    missing role) for a call that must not go out (audited as refused).
    The call is stored as a pending OutboundCall (persist first, then push) and returned;
    ``store(session, station_id, action, payload)`` stores it otherwise (a split job).
    The payload is never copied into the audit entry: it may carry credentials.
    """
    with audited(ctx, actor, CALL, station_id) as (session, detail):
        detail.update(action=action, mode="async", role=actor.role)
        check(session, require_station(session, station_id), action, payload)
        row = store(session, station_id, action, payload) if store is not None else \
            one_job(session, station_id, action, payload, actor.name)
        detail["call_id"] = row.id
        return row


def check_station_call(ctx: Context, actor: Actor, station_id: str, action: str, payload: dict[str, Any], *,
                       check: Check, writes: bool = True) -> dict[str, Any]:
    """Check an operator's call to be sent at once; the detail of its audit entry, which the
    caller writes (``AuditWriter``) before sending. A refusal is audited here, as refused.
    ``writes`` False: ``check`` only reads (no record of the request), so it runs in a read_scope:
    on SQLite without the write lock the stations' writes queue on, on PostgreSQL without a
    transaction."""
    detail = sync_call_detail(actor, action)
    try:
        with (session_scope if writes else read_scope)(ctx.engine) as session:
            check(session, require_station(session, station_id), action, payload)
    except Exception as exc:
        record_failure(ctx, actor, CALL, station_id, detail, exc)
        raise
    return detail


def sync_call_detail(actor: Actor, action: str, **extra: Any) -> dict[str, Any]:
    """The detail of the audit entry of an operator's call sent at once, or refused before it
    left: here, and where a door refuses it before ``check_station_call`` is reached."""
    return {"action": action, "mode": "sync", "role": actor.role, **extra}


def call_result_detail(action: str, status: str, *, error_code: str | None = None, call_id: int | None = None,
                       answer: dict[str, Any] | None = None) -> dict[str, Any]:
    """The detail of a call's outcome entry (``CALL_RESULT``)."""
    return _result(action, status, error_code, call_id, answer)


def append_call_result(session: Session, actor_name: str, station_id: str, action: str, status: str, *,
                       error_code: str | None = None, call_id: int | None = None,
                       answer: dict[str, Any] | None = None) -> None:
    """The outcome of a stored job, in the caller's transaction (the one that settles the job)."""
    audit.append(session, actor=actor_name, action=CALL_RESULT, target=station_id,
                 outcome=audit.Outcome.SUCCESS, detail=_result(action, status, error_code, call_id, answer))


def _result(action: str, status: str, error_code: str | None, call_id: int | None,
            answer: dict[str, Any] | None = None) -> dict[str, Any]:
    # The station's own status (Accepted, Rejected, ...) is what an operator looks for later;
    # the rest of the answer stays out of the audit log (it may be large).
    answered = answer.get("status") if isinstance(answer, dict) else None
    return {"action": action, "status": status, **({"error_code": error_code} if error_code else {}),
            **({"call_id": call_id} if call_id is not None else {}),
            **({"answer_status": answered[:50]} if isinstance(answered, str) else {})}
