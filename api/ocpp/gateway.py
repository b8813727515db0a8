"""The OCPP message layer as the rest of the process sees it.

The listener (api/ocpp/transport/listener.py) admits a connection and hands it to ``session_handler``;
REST and the certificate workflows reach stations through ``send_call``. This node's sessions
are found through the connection registry (api/ocpp/transport/registry.py). In cluster mode
(api/cluster/) a ``ClusterLink`` is hung on the gateway: each connection is claimed for this node
while its session runs, and a call for a station with no session here is relayed to the node
that holds it (docs/architecture.md, "More than one node"). Without one nothing of that runs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import bindparam, update
from sqlmodel import Session

from api.core.audit import AuditWriter
from api.core.context import Context
from api.core.refusal import Conflict
from api.core.settings import GatewayConfig
from api.core.work_slots import released
from api.ocpp.boot import ACCEPTED, BootGate
from api.ocpp.handler import Connection, Handler
from api.ocpp.message_log.recorder import MessageLog
from api.ocpp.message_log.writer_process import Target
from api.ocpp.session import NOT_CONNECTED, CallOutcome, OcppSession
from api.ocpp.transport.registry import ConnectionRegistry
from api.ocpp.validation import Schemas, schemas
from storage.batching import GroupCommit
from storage.db import session_scope
from storage.leases import LeaseOwner
from storage.message_log import helper_can_write, helper_target, insert_rows, message_log_engine
from storage.spool import Spool
from storage.stations import Station
from storage.types import utcnow
from storage.write_behind import WriteBehind

log = logging.getLogger("chargeca.ocpp")

ReadyHook = Callable[[OcppSession], Awaitable[None]]


class StationNotConnected(Conflict):
    """The station has no live session on this node: a call to it cannot be sent now."""

    def __init__(self, station_id: str) -> None:
        super().__init__("station.not_connected", f"station {station_id!r} is not connected",
                         details={"call_status": NOT_CONNECTED, "sent": False})
        self.station_id = station_id


class ClusterLink(Protocol):
    """What the gateway asks of the cluster (api/cluster/node.py), only when there is one."""

    async def claim(self, connection: Connection) -> None:
        """This node holds the station from now on; the others close their connections to it."""

    def release(self, connection: Connection) -> None:
        """The connection's session ended."""

    def holds_elsewhere(self, station_id: str) -> bool:
        """Whether another node holds the station, as far as this one has heard."""

    async def call(self, station_id: str, action: str, payload: dict[str, Any], timeout: float) -> CallOutcome:
        """The call sent through the node that holds the station."""


class Gateway:
    def __init__(self, ctx: Context, config: GatewayConfig | None = None, *,
                 routes: Mapping[str, Handler], spool: Spool | None = None, compiled: Schemas | None = None,
                 registry: ConnectionRegistry | None = None) -> None:
        self.ctx = ctx
        self.config = config or ctx.settings.gateway
        # Compiled here, at start-up, so that no station's first message pays for it.
        self.schemas = compiled or schemas()
        self._routes = routes
        # The listener registers connections here (stack.py hands it this registry); the gateway
        # hangs each session on its connection.
        self.registry = ConnectionRegistry() if registry is None else registry
        self._ready_hooks: list[ReadyHook] = []
        self._tasks: set[asyncio.Task] = set()
        # Small per-connect and per-boot writes of many stations share transactions under load.
        self.group = GroupCommit(ctx.engine, gather=self.config.commit_gather_ms / 1000)
        # Operators' calls sent at once are audited in batches (api/core/audit.py).
        self.audit = AuditWriter(ctx)
        # This running process, as the holder of the outbox rows it sends (storage/leases.py).
        self.owner = LeaseOwner.start(ctx.settings.node_id)
        # Where handlers keep what stations report while the database is away (the blocks decide
        # what goes there and who writes it back; the engine only carries it to them).
        self.spool = spool
        # Every frame of every session, written in the background (None: the policy turned it off,
        # and sessions queue nothing).
        self.message_log = MessageLog(ctx.policy.message_log, self._write_messages,
                                      in_process=self._message_log_process()) \
            if ctx.policy.message_log.enabled else None
        # TransactionEvents stored in order, in groups (set by api/stack.py; None: each alone).
        self.write_behind: WriteBehind | None = None
        # Set by api/cluster/node.py in cluster mode; None: this process is the only node.
        self.cluster: ClusterLink | None = None

    async def transactions_settled(self) -> None:
        """Once every TransactionEvent this process answered is stored (some are answered before
        they are stored: storage/write_behind.py), for whoever reads them next."""
        if self.write_behind is not None:
            async with released():   # the store's queue, not the asking request's work
                await self.write_behind.settled()

    def _message_log_process(self) -> Target | None:
        """Where the log's writer process writes; None: on a thread (the setting, or a database
        no other process can open)."""
        if self.config.message_log_writes_in != "process" or not helper_can_write(self.ctx.engine):
            return None
        return functools.partial(helper_target, self.ctx.engine)

    async def _write_messages(self, rows: Sequence[tuple]) -> None:
        # Not through the group commit: a log batch is one large transaction already, and it
        # must not hold up the stations' own writes (on SQLite it goes to a file of its own).
        await asyncio.to_thread(self._insert_messages, rows)

    def _insert_messages(self, rows: Sequence[tuple]) -> None:
        with session_scope(message_log_engine(self.ctx.engine)) as session:
            insert_rows(session, rows)

    # --- for the listener --------------------------------------------------------------------

    async def session_handler(self, connection: Connection) -> None:
        """Serve one admitted connection until it closes."""
        station_id = connection.station_id
        accepted_before = await self.group(lambda db: _note_connect(db, station_id, self.config.default_boot_status))
        if accepted_before is None:  # deleted between admission and now
            await connection.websocket.close(1008, "unknown station")
            return
        session = OcppSession(connection, ctx=self.ctx, config=self.config, schemas=self.schemas,
                              routes=self._routes, boot=BootGate.resume(accepted_before),
                              on_ready=self._session_ready, group=self.group, spool=self.spool,
                              message_log=self.message_log, write_behind=self.write_behind)
        # A newer connection of the same station replaces the older one in the registry (the
        # listener closes the older one): the station's session is then the newer one's.
        self.registry.attach(connection, session)
        cluster = self.cluster
        if cluster is None:
            await session.run()
            return
        await cluster.claim(connection)
        try:
            await session.run()
        finally:
            cluster.release(connection)

    # --- for REST and workflows --------------------------------------------------------------

    def session(self, station_id: str) -> OcppSession | None:
        session = self.registry.session(station_id)
        return session if session is not None and not session.closed else None

    def require_session(self, station_id: str) -> OcppSession:
        """The station's live session; raises StationNotConnected without one."""
        session = self.session(station_id)
        if session is None:
            raise StationNotConnected(station_id)
        return session

    def reachable(self, station_id: str) -> bool:
        """Whether a call to the station can go out now: it has a session here, or another node
        of the cluster holds it."""
        return self.session(station_id) is not None or (
            self.cluster is not None and self.cluster.holds_elsewhere(station_id))

    def require_reachable(self, station_id: str) -> None:
        """Raises StationNotConnected unless ``reachable``."""
        if not self.reachable(station_id):
            raise StationNotConnected(station_id)

    def sessions(self) -> list[OcppSession]:
        return [session for session in self.registry.sessions() if not session.closed]

    async def send_call(self, station_id: str, action: str, payload: dict[str, Any],
                        timeout: float | None = None) -> CallOutcome:
        """Send a CSMS-initiated CALL and wait for the station's answer.

        Raises SchemaViolation, without sending anything, when ``payload`` breaks the schema.
        """
        session = self.session(station_id)
        if session is None:
            self.schemas.validate_request(action, payload)
            if self.cluster is None:
                return CallOutcome(NOT_CONNECTED, description=f"station {station_id} is not connected")
        # The station takes its time: an operator's request waiting for it is no work of ours.
        async with released():
            if session is None:
                return await self.cluster.call(station_id, action, payload, timeout or self.config.call_timeout)
            return await session.call(action, payload, timeout or self.config.call_timeout)

    def on_ready(self, hook: ReadyHook) -> None:
        """Run ``hook(session)`` whenever a station may receive CSMS calls (after a Boot
        Accepted/Pending, or at connect when it was Accepted before)."""
        self._ready_hooks.append(hook)

    def _session_ready(self, session: OcppSession) -> None:
        # Gateway-level tasks, not the session's: a hook in the middle of a call must see the
        # call's outcome when the connection drops, not a cancellation.
        for hook in self._ready_hooks:
            task = asyncio.create_task(hook(session))
            self._tasks.add(task)
            task.add_done_callback(self._hook_done)

    def _hook_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("ready hook failed", exc_info=task.exception())

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.message_log is not None:
            await self.message_log.aclose()


def _note_connect(db: Session, station_id: str, default_boot_status: str) -> bool | None:
    """Whether the station may go on without a new BootNotification (None: no such station):
    its last one was Accepted and its boot policy still answers Accepted. A station whose policy
    became Pending or Rejected must boot again; until then it gets SecurityError (B02/B03)."""
    row = db.connection().execute(_NOTE_CONNECT, {"station": station_id, "now": utcnow()}).first()
    if row is None:
        return None
    last_boot_at, boot_policy = row
    return last_boot_at is not None and (boot_policy or default_boot_status) == ACCEPTED


# One prepared Core statement: every connect of a storm runs it, and building a statement (ORM
# update, cache key) costs more than executing it.
_NOTE_CONNECT = (update(Station.__table__).where(Station.__table__.c.id == bindparam("station"))
                 .values(last_connected_at=bindparam("now", type_=Station.__table__.c.last_connected_at.type))
                 .returning(Station.__table__.c.last_boot_at, Station.__table__.c.boot_policy))
