"""A CSMS call for a station another node holds: sent there over NATS, answered as if local.

Asking side (``Relay.call``, which the gateway uses when the station has no session here): find
the holder — a cache of the cluster's presence, fed by a snapshot at start and by every claim and
release notice, else PostgreSQL — and send it a request on its node subject naming the epoch.
Holding side (``Relay._serve``): the call goes out on the station's session only when this node
holds the station at that epoch; otherwise the answer is "stale" and the asker looks again once
(the station moved, or reconnected here under a newer epoch).

The outcome is the gateway's ``CallOutcome`` whatever the road: answered, error (CALLERROR),
timeout (``sent`` as the holder saw it), not_connected. Two roads end in outcomes of their own:
no node subscribed to the holder's subject (it died before its lease expired) is not_connected,
nothing sent; no reply from the holder within the call's timeout is a timeout that may have been
sent (the holder may have put it on the wire); NATS itself unreachable is not_connected, nothing
sent.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from typing import Any

import nats.errors
from nats.aio.msg import Msg

from api.cluster.bus import Bus, call_subject, decode, encode
from api.cluster.holding import CLAIMED, RELEASED, Holdings
from api.core.context import Context
from api.ocpp.session import ERROR, NOT_CONNECTED, TIMEOUT, CallOutcome, OcppSession
from api.ocpp.validation import SchemaViolation
from storage import presence
from storage.db import read_connection
from storage.presence import Holder

log = logging.getLogger("chargeca.cluster.relay")

# Beyond the call's own timeout: the hops to the holder and back, and its queueing.
REPLY_MARGIN = 2.0
STALE = "stale"


class Relay:
    def __init__(self, ctx: Context, bus: Bus, holdings: Holdings, local_session, call_timeout: float) -> None:
        """``local_session(station_id)``: this node's live session of the station, or None."""
        self._ctx = ctx
        self._bus = bus
        self._holdings = holdings
        self._local_session = local_session
        self._call_timeout = call_timeout
        self._me = holdings.owner.node
        self._holders: dict[str, Holder] = {}
        self._tasks: set[asyncio.Task] = set()
        self._refresh: asyncio.Task | None = None
        holdings.on_presence(self._heard)

    async def start(self, refresh_every: float) -> "Relay":
        snapshot = await asyncio.to_thread(self._read, presence.live)
        self._holders.update({s: h for s, h in snapshot.items() if h.node != self._me})
        await self._bus.subscribe(call_subject(self._me), self._serve)
        self._refresh = asyncio.create_task(self._forget_dead_nodes(refresh_every), name="cluster-relay-nodes")
        return self

    async def _forget_dead_nodes(self, every: float) -> None:
        # A node that dies announces no releases: its stations leave the cache when its lease
        # has expired (one small read per interval, whatever the number of stations).
        while True:
            await asyncio.sleep(every)
            try:
                alive = await asyncio.to_thread(self._read, presence.live_nodes)
            except Exception:  # noqa: BLE001 - the next round reads again
                log.warning("could not read which nodes are alive", exc_info=True)
                continue
            for station_id, holder in list(self._holders.items()):
                if holder.node not in alive:
                    del self._holders[station_id]

    async def aclose(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            await asyncio.gather(self._refresh, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- asking ---------------------------------------------------------------------------------

    def holds_elsewhere(self, station_id: str) -> bool:
        """Whether, as far as this node has heard, another live node holds the station."""
        return station_id in self._holders

    async def call(self, station_id: str, action: str, payload: dict[str, Any],
                   timeout: float | None = None) -> CallOutcome:
        timeout = timeout or self._call_timeout
        if not self._bus.client.is_connected:
            # nats-py would buffer the request until it reconnects: the caller would wait out its
            # timeout for a call that never left.
            return CallOutcome(NOT_CONNECTED, description=f"station {station_id} is not connected here, and NATS "
                                                          f"(the way to the other nodes) is unreachable now")
        holder = self._holders.get(station_id)
        for _ in range(2):
            if holder is None:
                holder = await asyncio.to_thread(self._read, lambda db: presence.holder(db, station_id))
                if holder is None or holder.node == self._me:
                    self._holders.pop(station_id, None)
                    return CallOutcome(NOT_CONNECTED, description=f"station {station_id} is not connected")
                self._holders[station_id] = holder
            request = {"station": station_id, "epoch": holder.epoch, "action": action, "payload": payload,
                       "timeout": timeout}
            try:
                reply = await self._bus.request(call_subject(holder.node), request, timeout + REPLY_MARGIN)
            except nats.errors.NoRespondersError:
                self._forget(station_id, holder)
                holder = None
                continue
            except nats.errors.TimeoutError:
                return CallOutcome(TIMEOUT, description=f"node {holder.node}, which holds the station, did not "
                                                        f"reply in time", sent=True)
            except nats.errors.Error as exc:   # NATS itself is away (reconnecting, closed): nothing left here
                return CallOutcome(NOT_CONNECTED, description=f"station {station_id} is held by node {holder.node}, "
                                                              f"unreachable now ({type(exc).__name__})")
            if reply.get("status") == STALE:
                self._forget(station_id, holder)
                holder = None
                continue
            return CallOutcome(**reply["outcome"])
        return CallOutcome(NOT_CONNECTED, description=f"station {station_id} is not connected (the node that held "
                                                      f"it is gone)")

    def _forget(self, station_id: str, holder: Holder) -> None:
        if self._holders.get(station_id) == holder:
            del self._holders[station_id]

    def _heard(self, kind: str, station_id: str, node: str, epoch: int) -> None:
        known = self._holders.get(station_id)
        if kind == CLAIMED and (known is None or known.epoch < epoch):
            self._holders[station_id] = Holder(node, epoch)
        elif kind == RELEASED and known is not None and known.epoch == epoch:
            del self._holders[station_id]

    def claimed_here(self, station_id: str) -> None:
        self._holders.pop(station_id, None)

    # --- holding --------------------------------------------------------------------------------

    async def _serve(self, msg: Msg) -> None:
        # NATS hands a subscription's messages over one at a time: each call gets its own task,
        # or one slow station would hold up every relayed call to this node.
        task = asyncio.create_task(self._answer(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, msg: Msg) -> None:
        request = decode(msg.data)
        station_id = request["station"]
        session: OcppSession | None = self._local_session(station_id)
        if session is None or self._holdings.epoch(station_id) != request["epoch"]:
            await msg.respond(encode({"status": STALE}))
            return
        try:
            outcome = await session.call(request["action"], request["payload"], float(request["timeout"]))
        except SchemaViolation as exc:   # the asker checked already; versions may differ in a rolling upgrade
            outcome = CallOutcome(ERROR, description=f"refused by node {self._me}: {exc.description}")
        except Exception:  # noqa: BLE001 - the asker must not wait out its timeout for our bug
            log.exception("relayed %s to %s failed", request["action"], station_id)
            outcome = CallOutcome(ERROR, description=f"node {self._me} failed to send it (see its log)")
        await msg.respond(encode({"outcome": asdict(outcome)}))

    def _read(self, work):
        with read_connection(self._ctx.engine) as connection:
            return work(connection)
