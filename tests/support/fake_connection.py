"""A station connection without a socket, for calling the CSMS's handlers directly.

``FakeStation.send`` does for one CALL what the session does around a handler (api/ocpp/session.py):
it checks the request against its OCPP schema, builds the ``StationCall``, awaits the handler the
routing table names, and checks the answer against the response schema — so a handler answering
something a station would reject fails here as it would fail on the wire. What the handler left
for after the answer (``call.after``) is kept, not run: a test runs it with ``run_follow_ups`` when
that is what it is about. The boot gate and the live state last for the connection, as they do
in a session; the database is the test's real one (``ctx``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from sqlmodel import select

from api.core.audit import Actor
from api.core.context import Context
from api.core.settings import GatewayConfig
from api.csms.meter_values.service import SampledValue, sampled_values
from api.csms.routes import ROUTES
from api.ocpp.boot import ACCEPTED, BootGate
from api.ocpp.handler import LiveState, StationCall
from api.ocpp.validation import schemas
from api.operations.stations import add_station
from storage.db import make_engine, session_scope
from storage.meter_values import MeterReading
from storage.spool import Spool
from storage.stations import Station

T = TypeVar("T")


class NoSocket:
    """Stands where the WebSocket would be: a handler must answer through its return value, so
    any use of the socket is a bug the test should see."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a handler used the WebSocket ({name}); it must only return its answer")


@dataclass
class FakeConnection:
    """What the listener hands over for an admitted connection (api/ocpp/handler.Connection)."""

    station_id: str
    security_profile: int = 2
    client_certificate: Any = None
    websocket: Any = field(default_factory=NoSocket)


class FakeStation:
    """One connected station whose CALLs go straight to the handlers."""

    def __init__(self, ctx: Context, station_id: str, *, security_profile: int = 2,
                 client_certificate: Any = None, config: GatewayConfig | None = None,
                 boot_status: str = ACCEPTED, spool: Spool | None = None) -> None:
        self.ctx = ctx
        self.connection = FakeConnection(station_id, security_profile, client_certificate)
        self.config = config or GatewayConfig()
        self.boot = BootGate(boot_status)
        self.live = LiveState()
        self.spool = spool
        self.follow_ups: list[Callable[[], Awaitable[None]]] = []
        # The StationCall of the latest CALL: what the handler asked of the session (disconnect).
        self.last: StationCall | None = None

    async def send(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The handler's answer to ``action``; raises what it raises (OcppError → CALLERROR)."""
        schemas().validate_request(action, payload)
        call = StationCall(self.ctx, self.config, self.connection, self.boot, self.live, spool=self.spool)
        self.last = call
        answer = await ROUTES[action](call, payload)
        if call.disconnect_reason is None:  # a dropped connection sends no answer at all
            schemas().validate_response(action, answer)
            self.follow_ups.extend(call.follow_ups)
        return answer

    @property
    def disconnect_reason(self) -> str | None:
        return self.last.disconnect_reason if self.last else None

    async def run_follow_ups(self) -> int:
        """Run what the handlers left for after their answers, in order; how many ran."""
        ran, self.follow_ups = self.follow_ups, []
        for follow_up in ran:
            await follow_up()
        return len(ran)


def register(ctx: Context, station_id: str, *, security_profile: int = 2, **columns: Any) -> None:
    """A station in the registry, as an operator adds it, with ``columns`` of its row set after."""
    add_station(ctx, Actor("cli:test-setup"), station_id, security_profile=security_profile)
    if columns:
        with session_scope(ctx.engine) as session:
            station = session.get(Station, station_id)
            for name, value in columns.items():
                setattr(station, name, value)
            session.add(station)


def rows(ctx: Context, model: type[T], *where: Any) -> list[T]:
    """What the database holds now, in insertion order."""
    with session_scope(ctx.engine) as session:
        table = model.__table__
        primary_key = list(table.primary_key.columns)[0]
        return list(session.exec(select(model).where(*where).order_by(primary_key)))


def sampled(ctx: Context, *where: Any) -> list[SampledValue]:
    """Every sampled value of the readings stored (``where`` filters the readings), in the order
    stored: by reading, then by place in it."""
    return [value for reading in rows(ctx, MeterReading, *where) for value in sampled_values(reading)]


def unreachable_database(ctx: Context, tmp_path: Path) -> Context:
    """``ctx`` with its database gone: a SQLite file in a folder that does not exist, so every
    transaction fails the way an outage does (storage.db.DatabaseUnavailable)."""
    return replace(ctx, engine=make_engine(f"sqlite:///{tmp_path / 'gone' / 'chargeca.db'}"))
