"""Server certificate rotation (scripts/rotate_server_cert.py, POST /api/v1/rotations/server-certificate):
both key families renewed and hot reloaded; open connections stay, new handshakes see the new serials.
In a cluster, a pass that reloads this node's TLS tells the other nodes over NATS, once."""

from __future__ import annotations

import asyncio
import contextlib
import ssl

import nats as nats_client
import pytest
from cluster_support import private_nats
from conftest import TEST_FQDN
from cryptography import x509
from rotation_support import SETUP, make_fleet, outcomes, running_service

from api.cluster.bus import TLS_RELOAD, Bus, decode
from api.cluster.config import ClusterConfig
from api.cluster.notices import Notices
from api.csms.security.authority_service import renew_server_certificates
from api.ocpp.transport.disconnects import DisconnectWatch
from api.ocpp.transport.listener import ListenerConfig, start_listeners
from api.rotation.report import ALREADY, DONE
from api.rotation.server_certificate import reload_listeners
from pki.serials import serial_hex

ECDSA_SUITE, RSA_SUITE = "ECDHE-ECDSA-AES128-GCM-SHA256", "AES128-GCM-SHA256"


async def _handshake(service, root_pem: str, cipher: str) -> str:
    """A fresh TLS 1.2 handshake with the wss listener offering one suite; the serial it got."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=root_pem)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(cipher)
    _reader, writer = await asyncio.open_connection("127.0.0.1", service.wss_port, ssl=context,
                                                    server_hostname=TEST_FQDN)
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.close()
    await writer.wait_closed()
    return serial_hex(x509.load_der_x509_certificate(der).serial_number)


def _served(service) -> dict[str, str]:
    return {c.family: c.serial_hex for c in service.listeners.tls.material.server_certificates}


async def test_rotation_keeps_connections_and_new_handshakes_see_new_serials(sqlite_pki, tmp_path):
    root_pem = sqlite_pki.hierarchy.root.record.certificate_pem
    async with running_service(sqlite_pki) as service:
        fleet = await make_fleet(service, sqlite_pki, tmp_path, 1, prefix="SRV")
        try:
            station = fleet["SRV-00"].station
            websocket, seen_before = station.websocket, station.server_certificate.serial_number
            old = _served(service)
            assert await _handshake(service, root_pem, ECDSA_SUITE) == old["ec"]

            report = await service.rotate("server-certificate")

            assert outcomes(report, "issue") == {None: "done"} and outcomes(report, "reload") == {None: "done"}
            assert report["complete"]
            new = _served(service)
            assert set(new) == {"ec", "rsa"} and not set(new.values()) & set(old.values())
            # The open connection is the same TLS session, and it still carries OCPP.
            assert station.websocket is websocket and station.server_certificate.serial_number == seen_before
            assert (await station.heartbeat())["currentTime"]
            assert fleet["SRV-00"].connects == 1
            # New handshakes get the new certificate of their key family.
            assert await _handshake(service, root_pem, ECDSA_SUITE) == new["ec"]
            assert await _handshake(service, root_pem, RSA_SUITE) == new["rsa"]

            # A re-run of the same rotation finds the certificates newer than its start: no new issuance.
            again = await service.rotate("server-certificate", issued_before=report["parameters"]["issued_before"])
            assert outcomes(again, "issue") == {None: "already"} and _served(service) == new
        finally:
            await fleet.close()


@pytest.fixture
def nats():
    yield from private_nats()


async def _no_session(connection) -> None:
    await connection.websocket.wait_closed()


@contextlib.asynccontextmanager
async def _node_heard_by_another(ctx, nats, node: str, *, tls_watch_interval: float | None):
    """A node's wss listener and notices on a real nats-server, and a queue of the TLS_RELOAD
    notices another node hears, in the order sent."""
    listeners = await start_listeners(ctx, _no_session, ListenerConfig(
        host="127.0.0.1", ws_port=None, wss_port=0, tls_watch_interval=tls_watch_interval))
    bus = await Bus.connect(ClusterConfig(nats.url, node))
    other = await nats_client.connect(nats.url)
    heard: asyncio.Queue[dict] = asyncio.Queue()

    async def hear(message) -> None:
        await heard.put(decode(message.data))

    await other.subscribe(TLS_RELOAD, cb=hear)
    await other.flush()
    notices = await Notices(bus, node).start(listeners, DisconnectWatch(ctx, listeners.registry))
    try:
        yield listeners, bus, heard
    finally:
        await notices.aclose()
        await other.close()
        await bus.close()
        await listeners.close()


async def test_a_resumed_pass_that_reloads_here_tells_the_other_nodes_once(sqlite_pki, nats):
    """The node that saved a switch died before reloading: the pass that resumes on node B finds
    it unserved and reloads; node C hears it from B at once, not at its 60 s TLS watch."""
    ctx = sqlite_pki.ctx
    async with _node_heard_by_another(ctx, nats, "node-b", tls_watch_interval=None) as (listeners, bus, heard):
        await asyncio.to_thread(renew_server_certificates, ctx, SETUP, TEST_FQDN)   # the dead node's switch

        assert (await reload_listeners(listeners, only_if_changed=True)).outcome == DONE
        assert (await reload_listeners(listeners, only_if_changed=True)).outcome == ALREADY

        # Node B's messages arrive in the order sent: what came before this mark is all it sent.
        await bus.publish(TLS_RELOAD, {"node": "mark"})
        async with asyncio.timeout(5):
            sent = [await heard.get()]
            while sent[-1] != {"node": "mark"}:
                sent.append(await heard.get())
        assert sent == [{"node": "node-b"}, {"node": "mark"}]


async def test_a_switch_only_this_nodes_watch_found_is_told_to_the_other_nodes(sqlite_pki, nats):
    """The node that saved a switch died before telling anyone, and no pass resumed it: node C's
    own TLS watch is the first to see it. The others hear it from C at once, not each at its own
    watch (up to a minute later); a watch that finds nothing new tells no one."""
    ctx = sqlite_pki.ctx
    async with _node_heard_by_another(ctx, nats, "node-c", tls_watch_interval=0.2) as (listeners, bus, heard):
        await asyncio.to_thread(renew_server_certificates, ctx, SETUP, TEST_FQDN)   # the dead node's switch
        async with asyncio.timeout(5):
            assert await heard.get() == {"node": "node-c"}
        await asyncio.sleep(1.0)   # five more watches, nothing new since
        await bus.publish(TLS_RELOAD, {"node": "mark"})
        async with asyncio.timeout(5):
            assert await heard.get() == {"node": "mark"}
        assert not await listeners.tls.refresh_if_changed()   # the watch serves the new material already
