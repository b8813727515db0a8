"""A node of the cluster, started beside the stack and stopped before it (``chargeca serve``).

Joins (a fresh lease for this process under the node's name), then: the holdings and their
heartbeat, the relay's subscription; last, hangs itself on the gateway, from which moment
connections are claimed and calls for stations held elsewhere are relayed. Started before the
listeners (no connection goes unclaimed); the notices (api/cluster/notices.py) start once the
listeners and the disconnect watch they reach do (api/stack.py).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from api.cluster.bus import Bus
from api.cluster.config import ClusterConfig
from api.cluster.holding import HoldersElsewhere, Holdings
from api.cluster.relay import Relay
from api.ocpp.gateway import Gateway
from api.ocpp.session import CallOutcome
from api.ocpp.transport.connection import StationConnection

log = logging.getLogger("chargeca.cluster")


class ClusterNode:
    """The gateway's ``ClusterLink``: its four questions answered by the holdings and the relay;
    ``holder_elsewhere`` answers admission's (api/stack.py hands it to the listeners)."""

    def __init__(self, bus: Bus, holdings: Holdings, relay: Relay, holder_elsewhere: HoldersElsewhere) -> None:
        self.bus = bus
        self.holdings = holdings
        self.relay = relay
        self.holder_elsewhere = holder_elsewhere

    async def claim(self, connection: StationConnection) -> None:
        self.relay.claimed_here(connection.station_id)
        await self.holdings.claim(connection)

    def release(self, connection: StationConnection) -> None:
        self.holdings.release(connection)

    def holds_elsewhere(self, station_id: str) -> bool:
        return self.relay.holds_elsewhere(station_id)

    async def call(self, station_id: str, action: str, payload: dict[str, Any], timeout: float) -> CallOutcome:
        return await self.relay.call(station_id, action, payload, timeout)


async def connect(config: ClusterConfig) -> Bus:
    """The node's NATS connection; raises ClusterRefused naming the URL when NATS is unreachable."""
    return await Bus.connect(config)


@contextlib.asynccontextmanager
async def running_node(config: ClusterConfig, bus: Bus, gateway: Gateway) -> AsyncIterator[ClusterNode]:
    async with contextlib.AsyncExitStack() as stop:
        stop.push_async_callback(bus.close)
        holdings = await Holdings(gateway.ctx, config, gateway.owner, bus, gateway.group).start()
        stop.push_async_callback(holdings.aclose)
        relay = Relay(gateway.ctx, bus, holdings, gateway.session, gateway.config.call_timeout)
        await relay.start(config.renew_every)
        stop.push_async_callback(relay.aclose)
        node = ClusterNode(bus, holdings, relay, HoldersElsewhere(gateway.ctx.engine, gateway.owner.node))
        gateway.cluster = node

        def unhook() -> None:
            gateway.cluster = None
        stop.callback(unhook)
        log.info("node %s of the cluster on NATS %s", config.node_id, config.nats_url)
        yield node
