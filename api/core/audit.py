"""Who acts, and the audit entry every state-changing action writes in its own transaction.

Every door (CLI, REST, OCPP workflows, rotations) runs an operator action inside ``audited``, so
an action is audited the same way whichever door it came through. A refused or failed action is
audited too, in a transaction of its own (the action's transaction has rolled back), and the
original error is re-raised to the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlmodel import Session

from api.core.context import Context
from pki.issuance import UnknownStation
from storage import audit
from storage.batching import Batcher
from storage.db import session_scope, write_connection
from storage.stations import Station

T = TypeVar("T")


ROLES = ("officer", "operator", "auditor")


@dataclass(frozen=True)
class Actor:
    """Who acts: 'cli:<os user>', 'token:<id>', or 'system:<worker>', and with which role.

    ``role`` is what decides a role-dependent action whichever door it came through (REST: the
    token's role; CLI: officer, since it runs with the data directory and the key passphrase);
    None: unknown, which holds no role's rights."""

    name: str
    role: str | None = None


@contextmanager
def audited(ctx: Context, actor: Actor, action: str, target: str) -> Iterator[tuple[Session, dict[str, Any]]]:
    detail: dict[str, Any] = {}
    try:
        with session_scope(ctx.engine) as session:
            yield session, detail
            audit.append(session, actor=actor.name, action=action, target=target,
                         outcome=audit.Outcome.SUCCESS, detail=detail)
    except Exception as exc:
        record_failure(ctx, actor, action, target, detail, exc)
        raise


def record_failure(ctx: Context, actor: Actor, action: str, target: str, detail: dict[str, Any],
                   exc: Exception) -> None:
    """Audit ``action`` as refused (a refusal, a lookup that found nothing) or failed, in a
    transaction of its own; best effort, since the database may be what failed."""
    outcome = audit.Outcome.REFUSED if isinstance(exc, (ValueError, LookupError)) else audit.Outcome.FAILED
    rule = getattr(exc, "rule", None) or getattr(getattr(exc, "decision", None), "rule", None)
    try:
        with session_scope(ctx.engine) as session:
            audit.append(session, actor=actor.name, action=action, target=target, outcome=outcome,
                         detail={**detail, "error": str(exc)[:500], **({"rule": rule} if rule else {})})
    except Exception:  # noqa: BLE001 - the database may be the thing that failed
        pass


class AuditWriter:
    """Successful entries that belong to no action's transaction (a call sent at once: its record
    before it leaves, its outcome after), written in batches: one chain lock, one read of the head
    and one multi-row INSERT for every entry that arrives together (storage/audit.py
    ``append_many``). One transaction per entry made the chain's lock the REST API's limit: on
    PostgreSQL, writers queued on it with a worker thread each, and 100 operator calls a second
    (two entries each) piled up for seconds. An entry is committed when the call returns; a batch
    that fails fails every caller in it (nothing is sent unrecorded)."""

    def __init__(self, ctx: Context) -> None:
        self._engine = ctx.engine
        self._batch: Batcher[audit.Record, None] = Batcher(self._write)

    async def success(self, actor: Actor, action: str, target: str, detail: dict[str, Any]) -> None:
        await self._batch(audit.Record(actor.name, action, target, audit.Outcome.SUCCESS, detail))

    def _write(self, records: list[audit.Record]) -> list[None]:
        with write_connection(self._engine) as connection:
            audit.append_many(connection, records)
        return [None] * len(records)


def record_denied(ctx: Context, actor: Actor, request: str, required_roles: list[str]) -> None:
    """An attempted change refused for lack of a role: audited, though nothing ran."""
    with session_scope(ctx.engine) as session:
        audit.append(session, actor=actor.name, action="api.denied", target=request[:200],
                     outcome=audit.Outcome.REFUSED, detail={"required_roles": required_roles})


def run_in_session(ctx: Context, work: Callable[[Session], T]) -> T:
    with session_scope(ctx.engine) as session:
        return work(session)


def require_station(session: Session, station_id: str) -> Station:
    station = session.get(Station, station_id)
    if station is None:
        raise UnknownStation(station_id)
    return station


def operator_reason(reason: str | None) -> str | None:
    return reason.strip()[:500] if reason and reason.strip() else None


def note_reason(detail: dict[str, Any], reason: str | None) -> None:
    """An operator's reason goes to the audit entry when one was given."""
    if operator_reason(reason):
        detail["reason"] = operator_reason(reason)
