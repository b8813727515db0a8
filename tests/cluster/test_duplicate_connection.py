"""``replace_duplicate_connection = false`` across a cluster: two nodes in this process (each the
stack ``chargeca serve`` runs, with its own node name) on one PostgreSQL and a private NATS. A
station connected through node A is refused on node B as a duplicate is on one node, and gets in
on B once A has let it go. In process, not two `chargeca serve` processes: the rule is admission's,
and starting processes would cost tens of seconds for nothing more."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from cluster_support import private_nats
from conftest import make_pki
from ocpp_support import Csms, open_csms
from ocpp_transport_helpers import events
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from api.cluster.bus import Bus
from api.cluster.config import ClusterConfig
from api.ocpp.admission.filters import DUPLICATE_CONNECTION
from policies.model import AdmissionPolicy

pytestmark = pytest.mark.postgres


@pytest.fixture
def nats():
    yield from private_nats()


@contextlib.asynccontextmanager
async def node(pki, name: str, nats_url: str) -> AsyncIterator[Csms]:
    ctx = pki.ctx
    strict = replace(ctx.policy, admission=AdmissionPolicy(replace_duplicate_connection=False))
    named = replace(pki, ctx=replace(ctx, settings=replace(ctx.settings, node_id=name), policy=strict))
    config = ClusterConfig(nats_url, name)
    bus = await Bus.connect(config)   # closed by the node when it stops
    async with contextlib.asynccontextmanager(open_csms)(named, cluster=(config, bus)) as csms:
        yield csms


async def open_station(csms: Csms, station_id: str, password: str):
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    return await connect(f"{csms.ws_url}/{station_id}", subprotocols=["ocpp2.0.1"],
                         additional_headers={"Authorization": f"Basic {token}"}, open_timeout=5)


async def test_a_station_connected_through_node_a_is_refused_on_node_b_until_a_lets_go(tmp_path, postgres_url,
                                                                                      monkeypatch, nats):
    pki = make_pki(tmp_path, postgres_url, monkeypatch)
    try:
        async with node(pki, "node-a", nats.url) as a, node(pki, "node-b", nats.url) as b:
            password = a.add_station("CP_1")
            first = await a.connect_raw("CP_1", password)
            await a.until(lambda: a.gateway.cluster.holdings.epoch("CP_1") is not None)

            with pytest.raises(InvalidStatus) as refused:
                await open_station(b, "CP_1", password)
            assert refused.value.response.status_code == 409
            assert a.gateway.session("CP_1") is not None, "the first connection is left alone"
            await b.listeners.refusals.flush()
            [event] = events(pki, "CP_1")
            assert event.type == DUPLICATE_CONNECTION and "node-a" in event.tech_info

            await first.close()
            async with asyncio.timeout(5):   # A's release is written after the connection closes
                while await b.gateway.cluster.holder_elsewhere("CP_1") is not None:
                    await asyncio.sleep(0.02)
            second = await open_station(b, "CP_1", password)
            await b.until(lambda: b.gateway.cluster.holdings.epoch("CP_1") is not None)
            await second.close()
    finally:
        pki.ctx.engine.dispose()
