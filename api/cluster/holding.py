"""The stations this node holds: claimed on connect, released on close, fenced by epoch.

A station connecting here is claimed in PostgreSQL (storage/presence.py: the epoch goes up by
one) before its session serves anything, and the claim is announced to every node. A node that
hears of a claim of a station it has open at an older epoch closes that connection: the
duplicate-connection rule of one node (the listener closes the older connection), across nodes.

Notices can be lost (NATS down for a moment, a node starting). The heartbeat is the backstop:
every ``renew_every`` seconds it renews this node's lease and reads the claims made since its
previous renewal (less a lease, for claims whose transaction was still open then); a connection
open here whose station was claimed since, and is not this node's at its epoch, is closed. Every
``FULL_READ_EVERY`` heartbeats, and after one that failed, it reads instead every station the
database gives this node: a claim the short reads missed is found there. Reading only recent
claims keeps a renewal's cost to what changed, not to the stations held (at a million stations,
~200,000 rows a second across the cluster otherwise). A heartbeat that cannot reach the database
for a whole lease closes every connection: by then the other nodes see this node's stations as
free, and may claim them.

Under the policy ``replace_duplicate_connection = false`` the newer connection is refused instead:
admission asks ``HoldersElsewhere`` whether another node holds the station before letting it in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from nats.aio.msg import Msg
from sqlalchemy.engine import Engine

from api.cluster.bus import PRESENCE, Bus, decode
from api.cluster.config import ClusterConfig
from api.core.context import Context
from api.core.failure_log import FailureLog
from api.ocpp.transport.connection import StationConnection
from storage import presence
from storage.batching import Batcher, GroupCommit
from storage.db import read_connection, session_scope
from storage.leases import LeaseOwner

log = logging.getLogger("chargeca.cluster.holding")

CLOSE_NORMAL = 1000
FULL_READ_EVERY = 12      # heartbeats: with the default 5 s between them, a full read each minute
CLAIMED, RELEASED = "claimed", "released"
# Another node's claim or release: (kind, station, node, epoch).
PresenceListener = Callable[[str, str, str, int], None]


class Holdings:
    def __init__(self, ctx: Context, config: ClusterConfig, owner: LeaseOwner, bus: Bus,
                 group: GroupCommit | None = None) -> None:
        """``group``: the gateway's, so that the claims of a connect storm share transactions
        with each other (and with the connects' own writes)."""
        self._ctx = ctx
        self._group = group or GroupCommit(ctx.engine)
        self._config = config
        self.owner = owner
        self._bus = bus
        self._held: dict[str, tuple[StationConnection, int]] = {}
        self._listeners: list[PresenceListener] = []
        self._tasks: set[asyncio.Task] = set()
        self._heartbeat: asyncio.Task | None = None
        self._renewed_at = 0.0
        self._read_since = None   # the database's time of the last renewal that read; None: read in full
        self._beats = 0

    # --- life cycle ---------------------------------------------------------------------------

    async def start(self) -> "Holdings":
        await asyncio.to_thread(self._run, lambda db: presence.join(db, self.owner, self._config.lease_seconds))
        self._renewed_at = asyncio.get_running_loop().time()
        await self._bus.subscribe(PRESENCE, self._on_presence)
        self._heartbeat = asyncio.create_task(self._beat(), name="cluster-heartbeat")
        return self

    async def aclose(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await asyncio.to_thread(self._run, lambda db: presence.leave(db, self.owner))
        except Exception:  # noqa: BLE001 - the lease expires by itself
            log.exception("could not release this node's stations; they expire with its lease")

    def on_presence(self, listener: PresenceListener) -> None:
        self._listeners.append(listener)

    # --- for the gateway ----------------------------------------------------------------------

    def epoch(self, station_id: str) -> int | None:
        """The epoch this node holds the station under (None: not held here)."""
        held = self._held.get(station_id)
        return held[1] if held is not None else None

    def held(self) -> dict[str, int]:
        return {station_id: epoch for station_id, (_, epoch) in self._held.items()}

    async def claim(self, connection: StationConnection) -> int:
        """The station's new epoch; from now on other nodes close their older connections."""
        station_id = connection.station_id
        epoch = await self._group(lambda db: presence.claim(db.connection(), self.owner, station_id))
        current = self._held.get(station_id)
        if current is None or current[1] < epoch:   # a later claim of ours may have finished first
            self._held[station_id] = (connection, epoch)
        await self._announce(CLAIMED, station_id, epoch)
        return epoch

    def release(self, connection: StationConnection) -> None:
        held = self._held.get(connection.station_id)
        if held is None or held[0] is not connection:
            return   # replaced by a newer connection (here or elsewhere): nothing of ours to release
        del self._held[connection.station_id]
        self._spawn(self._release(connection.station_id, held[1]))

    async def _release(self, station_id: str, epoch: int) -> None:
        try:
            released = await asyncio.to_thread(
                self._run, lambda db: presence.release(db, self.owner, station_id, epoch))
        except Exception:  # noqa: BLE001 - the lease expires by itself
            log.exception("could not release %s; it expires with this node's lease", station_id)
            return
        if released:
            await self._announce(RELEASED, station_id, epoch)

    # --- fencing ------------------------------------------------------------------------------

    async def _on_presence(self, msg: Msg) -> None:
        notice = decode(msg.data)
        kind, station_id, node, epoch = notice["kind"], notice["station"], notice["node"], notice["epoch"]
        if kind == CLAIMED:
            held = self._held.get(station_id)
            if held is not None and held[1] < epoch:
                self._drop(station_id, f"connected to node {node} since")
        for listener in self._listeners:
            listener(kind, station_id, node, epoch)

    def _drop(self, station_id: str, why: str) -> None:
        connection, epoch = self._held.pop(station_id)
        log.warning("closing the connection of %s (epoch %d): %s", station_id, epoch, why)
        self._spawn(connection.close(CLOSE_NORMAL, "replaced by a newer connection of this station"))

    async def _beat(self) -> None:
        loop = asyncio.get_running_loop()
        failures = FailureLog(log, "renewing this node's lease")
        while True:
            await asyncio.sleep(self._config.renew_every)
            try:
                await self.renew()
            except Exception as exc:  # noqa: BLE001 - judged below by the lease's age
                failures.failed(exc)
                self._read_since = None
                if loop.time() - self._renewed_at >= self._config.lease_seconds:
                    for station_id in list(self._held):
                        self._drop(station_id, "this node's lease expired (database unreachable)")
                continue
            failures.succeeded()
            self._renewed_at = loop.time()

    async def renew(self) -> None:
        """One heartbeat: extend the lease, read what changed (or everything), fence."""
        # Claims that finish while the renewal reads are not in what it reads: only what was
        # held before it started is judged by it.
        before = dict(self._held)
        since = self._read_since if self._beats % FULL_READ_EVERY else None
        lease = self._config.lease_seconds

        def work(db):
            at = presence.extend(db, self.owner, lease)
            if at is None:
                return None, {}
            if since is None:
                return at, presence.held_by(db, self.owner)
            return at, presence.claims_since(db, since - timedelta(seconds=lease))

        at, read = await asyncio.to_thread(self._run, work)
        self._beats += 1
        if at is None:
            log.error("another process took node name %r over; closing every connection here", self.owner.node)
            self.fence({}, before)
            return
        if since is None:
            self.fence(read, before)
        else:
            self.fence_claims(read, before)
        self._read_since = at

    def fence(self, stored: dict[str, int], before: dict[str, tuple[StationConnection, int]]) -> None:
        """Close every connection held here since ``before`` that the database (``stored``, read
        after ``before`` was taken) no longer gives to this node at its epoch."""
        for station_id, held in before.items():
            if self._held.get(station_id) is held and stored.get(station_id) != held[1]:
                self._drop(station_id, f"the database no longer gives it to this node at epoch {held[1]}")

    def fence_claims(self, claims: dict[str, presence.Claim], before: dict[str, tuple[StationConnection, int]]) -> None:
        """As ``fence``, from the claims made since the last renewal: a station held here since
        ``before`` whose claim is not this process's at its epoch was taken by another."""
        mine = (self.owner.node, self.owner.process)
        for station_id, claim in claims.items():
            held = before.get(station_id)
            if held is not None and self._held.get(station_id) is held and (
                    (claim.node, claim.process, claim.epoch) != (*mine, held[1])):
                self._drop(station_id, f"claimed at epoch {claim.epoch} since; no longer this node's")

    # --- helpers ------------------------------------------------------------------------------

    async def _announce(self, kind: str, station_id: str, epoch: int) -> None:
        try:
            await self._bus.publish(PRESENCE, {"kind": kind, "station": station_id, "node": self.owner.node,
                                               "epoch": epoch})
        except Exception:  # noqa: BLE001 - the other nodes' heartbeats find out instead
            log.warning("could not announce %s of %s over NATS", kind, station_id)

    def _run(self, work):
        with session_scope(self._ctx.engine) as session:
            return work(session.connection())

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class HoldersElsewhere:
    """Which other node holds a station now, read from PostgreSQL at every ask (admission's
    DuplicateOnAnotherNode, api/ocpp/admission/filters.py). Not the relay's cache of notices: a
    lease that ran out must free the station at once, and a claim whose notice is still on its way
    must count already."""

    def __init__(self, engine: Engine, node: str) -> None:
        self._engine = engine
        self._node = node
        # A reconnect storm's asks share reads, as admission's own lookups do.
        self._find = Batcher(self._nodes_of)

    async def __call__(self, station_id: str) -> str | None:
        return await self._find(station_id)

    def _nodes_of(self, station_ids: list[str]) -> list[str | None]:
        with read_connection(self._engine) as connection:
            live = presence.holders(connection, station_ids)
        return [self._other(live.get(station_id)) for station_id in station_ids]

    def _other(self, holder: presence.Holder | None) -> str | None:
        return holder.node if holder is not None and holder.node != self._node else None
