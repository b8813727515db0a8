"""Closing a station's live connections when a change says it must go, whichever door made it.

A revoked station certificate, a disabled or deleted station, a changed security profile: the
change stores a ``StationDisconnect`` row in its own transaction (``request_disconnect``), so the
request exists exactly when the change does. Every gateway process runs a ``DisconnectWatch``
that reads new rows and asks its ``SessionCloser`` — the connection registry — to close the
matching connections with WebSocket close code 1008 (policy violation) and the row's reason.

- A change made inside the service (REST, a worker) rings this process's doorbell when its
  transaction commits: the watch acts at once, not at its next poll.
- A change made by another process (the CLI) is found by the poll, every
  ``[sessions] disconnect_poll_seconds``.
- Several nodes sharing the database each poll and close what they hold, so the request reaches
  the node holding the connection. In cluster mode a request stored here is also announced over
  NATS (api/cluster/notices.py): every node's watch looks at once (``wake``), not at its poll;
  the rows stay the record of intent.

Admission refuses the next connect by itself (revoked certificate, disabled or unknown station,
other profile); closing the live connection is what this module adds.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy import delete, event, func
from sqlmodel import Session, select

from api.core.context import Context
from api.core.failure_log import FailureLog, woken_or_after
from api.ocpp.doorbell import Doorbell, event_waker
from storage.certificates import CertKind, IssuedCertificate
from storage.db import read_scope, session_scope
from storage.stations import StationDisconnect
from storage.types import utcnow

log = logging.getLogger("chargeca.ocpp.disconnects")

# RFC 6455 §7.4.1: the endpoint is terminating the connection because of a policy violation.
POLICY_VIOLATION = 1008
REASON_MAX = 120   # characters stored; the close frame carries at most 123 bytes of it
_BATCH = 1000

_bell = Doorbell()
# "a request was stored in this process": for whoever tells other processes (api/cluster/notices.py)
listen_stored = _bell.listen
_PENDING, _LISTENING = "chargeca.disconnect_pending", "chargeca.disconnect_listening"


@dataclass(frozen=True)
class DisconnectRequest:
    """Close ``station_id``'s connections: those presenting certificate ``serial_hex`` (profile 3)
    when given, else all of them, except those on ``keep_profile`` when given."""

    station_id: str
    reason: str
    serial_hex: str | None = None
    keep_profile: int | None = None

    def applies_to(self, security_profile: int, client_certificate_serial: str | None) -> bool:
        if self.serial_hex is not None and client_certificate_serial != self.serial_hex:
            return False
        return self.keep_profile is None or security_profile != self.keep_profile


def close_reason(reason: str) -> str:
    """``reason`` cut to what a close frame can carry (RFC 6455 §5.5: 125 bytes, 2 for the code)."""
    return reason.encode()[:123].decode(errors="ignore")


class SessionCloser(Protocol):
    """Closes the connections a request names; returns how many it closed. On one node:
    api/ocpp/transport/registry.py (local connections). Several nodes: relayed to each (issue 13)."""

    async def close_station(self, request: DisconnectRequest) -> int: ...


def request_disconnect(session: Session, station_id: str, reason: str, *, issuer_id: str | None = None,
                       serial_hex: str | None = None, keep_profile: int | None = None) -> None:
    """Store the request in ``session``'s transaction; this process acts on it once it commits."""
    session.add(StationDisconnect(station_id=station_id, reason=reason[:REASON_MAX], issuer_id=issuer_id,
                                  serial_hex=serial_hex, keep_profile=keep_profile))
    session.info[_PENDING] = True
    if not session.info.get(_LISTENING):
        session.info[_LISTENING] = True
        event.listen(session, "after_commit", _ring_after_commit)


def disconnect_revoked(session: Session, record: IssuedCertificate) -> None:
    """A station certificate was revoked in ``session``: connections presenting it close."""
    if record.kind == CertKind.STATION and record.station_id:
        request_disconnect(session, record.station_id,
                           f"client certificate {record.serial_hex} revoked ({record.revocation_reason})",
                           issuer_id=record.issuer_id, serial_hex=record.serial_hex)


def _ring_after_commit(session: Session) -> None:
    # A savepoint released (the audit entry takes one) commits nothing yet: wait for the outer
    # commit, or the watch would look before the row is visible and miss it until its poll.
    if session.in_nested_transaction() or not session.info.pop(_PENDING, False):
        return
    _bell.ring()


def _latest_id(ctx: Context) -> int:
    with read_scope(ctx.engine) as session:
        return session.exec(select(func.max(StationDisconnect.id))).one() or 0


def _requests_after(ctx: Context, mark: int) -> list[tuple[int, DisconnectRequest]]:
    with read_scope(ctx.engine) as session:
        rows = session.exec(select(StationDisconnect).where(StationDisconnect.id > mark)
                            .order_by(StationDisconnect.id).limit(_BATCH)).all()
    return [(row.id, DisconnectRequest(row.station_id, row.reason, row.serial_hex, row.keep_profile))
            for row in rows]


def _prune(ctx: Context, keep_hours: int) -> None:
    with session_scope(ctx.engine) as session:
        session.execute(delete(StationDisconnect).where(
            StationDisconnect.created_at < utcnow() - timedelta(hours=keep_hours)))


class DisconnectWatch:
    """Acts on new disconnect requests: at once when this process stored them, else at the poll."""

    def __init__(self, ctx: Context, closer: SessionCloser) -> None:
        self._ctx = ctx
        self._closer = closer
        self._policy = ctx.policy.sessions
        self._wake = asyncio.Event()
        self._mark = 0
        self._task: asyncio.Task | None = None
        self._unlisten = lambda: None

    async def start(self) -> DisconnectWatch:
        # Requests older than this process concern connections it never had.
        self._mark = await asyncio.to_thread(_latest_id, self._ctx)
        self._unlisten = _bell.listen(event_waker(self._wake, asyncio.get_running_loop()))
        self._task = asyncio.create_task(self._run(), name="station-disconnects")
        return self

    def wake(self) -> None:
        """Look now, not at the next poll (another node stored a request)."""
        self._wake.set()

    async def run_once(self) -> int:
        """Act on every request stored since the last look; how many connections it closed."""
        closed = 0
        while True:
            found = await asyncio.to_thread(_requests_after, self._ctx, self._mark)
            for request_id, request in found:
                self._mark = request_id
                closed += await self._closer.close_station(request)
            if len(found) < _BATCH:
                return closed

    async def _run(self) -> None:
        polls_per_prune = max(1, int(3600 / self._policy.disconnect_poll_seconds))
        polls = 0
        failures = FailureLog(log, "looking for station disconnect requests")

        async def poll() -> None:
            nonlocal polls
            await self.run_once()
            polls += 1
            if polls % polls_per_prune == 0:
                await asyncio.to_thread(_prune, self._ctx, self._policy.disconnect_keep_hours)

        while True:
            self._wake.clear()   # before looking: a ring during the look is not lost
            await failures.attempt(poll)
            await woken_or_after(self._wake, self._policy.disconnect_poll_seconds)

    async def aclose(self) -> None:
        self._unlisten()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
