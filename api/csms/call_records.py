"""The audit records around an operator's CSMS-initiated call: before it leaves, and its outcome."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from api.core.audit import Actor, audited, require_station
from api.core.context import Context
from storage.outbox import OutboundCall
from storage.stations import Station

def begin_station_call(ctx: Context, actor: Actor, station_id: str, action: str, payload: dict[str, Any], *,
                       check: Callable[[Session, Station, str, dict[str, Any]], None],
                       persist: bool) -> OutboundCall | None:
    """Record an operator's CSMS-initiated call before it is sent.

    ``check(session, station, action, payload)`` raises Refusal (RoleRequired for a
    missing role) for a call that must not go out (audited as refused).
    With ``persist`` the call is stored as a pending OutboundCall (persist first, then push) and
    returned. The payload is never copied into the audit entry: it may carry credentials.
    """
    with audited(ctx, actor, "station.call", station_id) as (session, detail):
        detail.update(action=action, mode="async" if persist else "sync", role=actor.role)
        check(session, require_station(session, station_id), action, payload)
        if not persist:
            return None
        row = OutboundCall(station_id=station_id, action=action, payload=json.dumps(payload),
                           purpose="operator", created_by=actor.name)
        session.add(row)
        session.flush()
        detail["call_id"] = row.id
        return row


def record_call_result(ctx: Context, actor: Actor, station_id: str, action: str, status: str, *,
                       error_code: str | None = None, call_id: int | None = None) -> None:
    with audited(ctx, actor, "station.call.result", station_id) as (_session, detail):
        detail.update(action=action, status=status)
        if error_code:
            detail["error_code"] = error_code
        if call_id is not None:
            detail["call_id"] = call_id
