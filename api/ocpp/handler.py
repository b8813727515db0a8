"""Handlers of station-initiated messages, one module per OCPP functional block.

A handler is ``async def handler(call: StationCall, payload: dict) -> dict``: it gets the
request payload (already schema-valid) and returns the response payload (validated before it is
sent). It raises ``OcppError`` for a CALLERROR. It never awaits a CSMS-initiated call: the station
is waiting for this answer first; anything to send afterwards goes through ``call.after``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol, TypeVar

from sqlmodel import Session

from api.core.audit import run_in_session
from api.core.context import Context
from api.core.refusal import Refusal
from api.core.settings import GatewayConfig
from api.ocpp import date_time
from api.ocpp.boot import BootGate
from api.ocpp.framing import CallError, ErrorCode, OcppError
from storage.batching import GroupCommit
from storage.spool import Spool
from storage.write_behind import WriteBehind

T = TypeVar("T")
R = TypeVar("R")


class Connection(Protocol):
    """What the listener hands over for an admitted connection (api/ocpp/transport/connection.py)."""

    station_id: str
    security_profile: int
    client_certificate: Any
    websocket: Any  # websockets' ServerConnection: async iteration, send(), close()


@dataclass
class Run:
    """One key's repeats within a window: how many so far, and what the caller keeps for them
    (the row they are counted on)."""

    started: float
    count: int = 0
    kept: Any = None


# The window over which the log lines a station causes are counted (Repeats.log_line).
LOG_WINDOW = 600.0


@dataclass
class Repeats:
    """What this connection already reported, and when: a station can repeat a refused request or
    an alarming event as fast as it sends, and an audit entry, a row or a WARNING per repeat would
    be as unbounded as its sending. Kept with the connection, so nothing is read or written to find
    a repeat; a station that reconnects to repeat pays a TLS handshake and admission each time."""

    clock: Callable[[], float] = time.monotonic
    _runs: dict[str, dict[str, Run]] = field(default_factory=dict)
    # Keys of one kind a station can choose (an event type is free text): past this many live in
    # a window, the others share one run.
    KEYS = 64
    OTHERS = "(others)"

    def run(self, kind: str, key: str, within: float) -> Run:
        """The run of ``key`` of ``kind``, counting this time: a new one when the last began
        ``within`` seconds ago or more."""
        now = self.clock()
        runs = self._runs.setdefault(kind, {})
        found = runs.get(key)
        if found is None and len(runs) >= self.KEYS and key != self.OTHERS:
            runs = self._runs[kind] = {k: r for k, r in runs.items() if now - r.started < within}
            if len(runs) >= self.KEYS:
                return self.run(kind, self.OTHERS, within)
        if found is None or now - found.started >= within:
            found = runs[key] = Run(now)
        found.count += 1
        return found

    def first(self, kind: str, key: str, within: float) -> bool:
        """Whether this is the first time of ``key`` within its window."""
        return self.run(kind, key, within).count == 1

    def log_line(self, key: str) -> str | None:
        """For a log line about what the station sent (``key``: which kind of line), counting this
        time: None when no line is due, else what to add to it. A line is due the 1st, 2nd, 4th,
        8th, … time in LOG_WINDOW: a station can make us log as fast as it sends."""
        count = self.run("log", key, LOG_WINDOW).count
        if count & (count - 1):
            return None
        return "" if count == 1 else f" ({count} times within {LOG_WINDOW // 60:.0f} minutes)"


@dataclass
class LiveState:
    """What a station said that matters only while it is connected (its connectors are shown in
    connection listings)."""

    # (evseId, connectorId) → last reported status, from StatusNotification or NotifyEvent.
    connectors: dict[tuple[int, int], str] = field(default_factory=dict)
    # transactionId → its summary row as last committed, for the transactions open on this
    # connection (api/csms/transactions/handlers.py): their next events need no read of the row.
    transactions: dict[str, dict[str, Any]] = field(default_factory=dict)
    # transactionId → when its running cost was last looked at (api/csms/tariff_cost/handlers.py).
    cost_looked_at: dict[str, float] = field(default_factory=dict)
    repeats: Repeats = field(default_factory=Repeats)


@dataclass
class StationCall:
    """Everything a handler may use while answering one CALL of one station."""

    ctx: Context
    config: GatewayConfig
    connection: Connection
    boot: BootGate
    live: LiveState
    # Set by the session: close the WebSocket (after this CALL, without answering it).
    disconnect_reason: str | None = None
    follow_ups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # The gateway's group commit (storage/batching.py), when there is one.
    group: GroupCommit | None = None
    # Where security events go while the database is unavailable (api/csms/security/event_spool.py).
    spool: Spool | None = None
    # The gateway's store of TransactionEvents (storage/write_behind.py), when there is one.
    write_behind: WriteBehind | None = None
    # The CALL's frame as the station sent it (empty when a handler is called on its own).
    frame: str = ""

    @property
    def station_id(self) -> str:
        return self.connection.station_id

    def after(self, follow_up: Callable[[], Awaitable[None]]) -> None:
        """Run ``follow_up`` as its own task once the answer to this CALL is on the wire."""
        self.follow_ups.append(follow_up)

    def disconnect(self, reason: str) -> None:
        """Drop the connection instead of answering (e.g. B01.FR.12)."""
        self.disconnect_reason = reason

    async def db(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one transaction on a worker thread: a busy database must not stall
        every other station's messages on this event loop."""
        return await asyncio.to_thread(run_in_session, self.ctx, work)

    async def db_grouped(self, work: Callable[[Session], T]) -> T:
        """Like ``db`` for a small write that may share its transaction with other stations'
        (group commit): a boot storm then costs one transaction per batch, not per station.
        ``work`` may run twice (after a failed group it runs alone), so it must only touch the
        session."""
        if self.group is None:
            return await self.db(work)
        return await self.group(work)


Handler = Callable[[StationCall, dict[str, Any]], Awaitable[dict[str, Any]]]

# StatusInfoType: reasonCode is string[..20], additionalInfo string[..512]; OCPP-J's
# errorDescription is string[..255].
_REASON_CODE_MAX, _ADDITIONAL_INFO_MAX, _DESCRIPTION_MAX = 20, 512, 255


def status_info(reason_code: str, rule: str, reason: str) -> dict[str, str]:
    """The statusInfo of an answer a rule refused: the spec's reason code for the station's
    software, the rule and its reason for the person reading the station's log."""
    return {"reasonCode": reason_code[:_REASON_CODE_MAX], "additionalInfo": f"{rule}: {reason}"[:_ADDITIONAL_INFO_MAX]}


def refusal_error(message_id: str, refusal: Refusal) -> CallError:
    """A refusal no handler answered itself (with a Rejected status and ``status_info``) becomes a
    CALLERROR that names the rule, never an InternalError: the station learns it was refused."""
    return CallError(message_id, ErrorCode.GENERIC_ERROR, f"{refusal.rule}: {refusal.reason}"[:_DESCRIPTION_MAX],
                     {"rule": refusal.rule})


def now_iso() -> str:
    """An OCPP dateTime: UTC, RFC 3339, millisecond precision."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_datetime(text: str, field: str) -> datetime:
    """An OCPP dateTime (schema-checked, RFC 3339) as an aware UTC datetime; ``field`` names it
    in the CALLERROR when it is none.

    The schema checks refuse what this would (api/ocpp/date_time.py); this is the net for a
    value read without them."""
    try:
        return date_time.instant(text)
    except ValueError:
        raise OcppError(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, f"{field} {text[:40]!r} {date_time.PROBLEM}",
                        {"field": field}) from None
