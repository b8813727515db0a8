"""Two and three `chargeca serve` nodes on one PostgreSQL and one NATS, as an operator runs them:
real processes, a real station (the simulator, profile 2 over wss), the REST API of any node.

- a station connected to node A gets what an operator sends through node B (a typed command, a
  raw call, a job), and an answer comes back the same way; a station connected nowhere is 409;
- a station reconnecting to another node is served there, the old node closes its connection,
  and the database never gives the station to both; hopping across three nodes, it is listed
  as connected by one node at a time, and a call from any node reaches its one live connection;
- node A killed (SIGKILL) while a CertificateSigned and an operator's job (stored through node
  B) are on the wire: the stations reconnect to node B, which sends each again at once; each is
  answered exactly once, and nothing answered goes out again;
- node A killed (SIGKILL) in a CSMS root rollover it runs, the new root installed on a profile-3
  station but its answer not yet back: the station reconnects through HAProxy to node B, where
  the operator's next pass finishes the rollover; the root, the new certificate and the old
  root's deletion each reach the station once;
- a job is sent once, whichever node the operator used and however many nodes scan the outbox;
- a firmware campaign made through node B runs one pass at a time across the cluster and reaches
  the stations of both nodes, each from the node that holds it, once;
- a rotation pass runs on one node at a time across the cluster; a server-certificate rotation
  on one node reloads the others' TLS at once;
- NATS gone: each node still serves its own stations, and a call for another node's station is
  409 at once, nothing sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cluster_support import Haproxy, Node, haproxy_binary, private_nats
from conftest import TEST_FQDN, TEST_ORG, TEST_PASSPHRASE, make_pki
from cryptography import x509
from firmware_support import chargeca_image, sent
from ocpp_transport_helpers import issue_client_certificate
from rotation_support import FleetStation, authority, outcomes
from sqlalchemy import text
from sqlmodel import select
from trust_anchor_support import MANUFACTURER_ROOT

from api.core.audit import Actor, run_in_session
from api.csms.security.installed_certificates import store_report
from api.operations.stations import add_station
from api.operations.tokens import create_token
from pki.hashdata import certificate_hash_data
from simulator.certificate_store import CSMS_ROOT
from simulator.device_model import StationCallError
from simulator.station import DEFAULT_HANDLERS, SimulatedStation, TlsOptions
from simulator.store_trust import InstalledRootsTrust
from storage.audit import AuditEntry
from storage.certificates import CaRole, IssuedCertificate
from storage.outbox import OutboundCall

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(600)]


@pytest.fixture
def nats():
    yield from private_nats()


@pytest.fixture
def haproxy() -> str:
    return haproxy_binary()


class Cluster:
    def __init__(self, tmp_path: Path, pki, nats_url: str, db_url: str, names: tuple[str, ...]) -> None:
        self.tmp_path = tmp_path
        self.pki = pki
        self.nodes = {name: Node(name, tmp_path, db_url, nats_url, TEST_PASSPHRASE) for name in names}
        token = create_token(pki.ctx, Actor("cli:test"), "officer", "officer").token
        self.headers = {"Authorization": f"Bearer {token}"}
        self.stations: list[SimulatedStation] = []

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    def rest(self, node: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.nodes[node].rest_url, headers=self.headers, timeout=30)

    def station(self, station_id: str, password: str | None = None) -> SimulatedStation:
        if password is None:
            password = add_station(self.pki.ctx, Actor("cli:test"), station_id, security_profile=2).password
        root = self.tmp_path / "root.pem"
        root.write_text(self.pki.hierarchy.root.record.certificate_pem)
        os.makedirs(self.tmp_path / station_id, exist_ok=True)
        station = SimulatedStation(station_id, "wss://placeholder/ocpp", profile=2, password=password,
                                   organization=TEST_ORG, tls=TlsOptions(ca_file=root, server_hostname=TEST_FQDN),
                                   call_timeout=10, workdir=self.tmp_path / station_id)
        self.stations.append(station)
        return station

    async def connect(self, station: SimulatedStation, node: str) -> None:
        """The station (re)connects to ``node`` and boots there."""
        await station.close()
        station._ws = station._reader = None
        station.url = self.nodes[node].wss_url(station.identity)
        await station.connect()
        assert (await station.boot())["status"] == "Accepted"

    def query(self, statement, **params) -> list:
        if isinstance(statement, str):
            return run_in_session(self.pki.ctx, lambda s: list(s.execute(text(statement), params)))
        return run_in_session(self.pki.ctx, lambda s: list(s.exec(statement)))

    def holder(self, station_id: str) -> list[tuple]:
        return self.query("SELECT p.node_id, p.epoch FROM station_presence p JOIN cluster_node n "
                          "ON n.node_id = p.node_id AND n.process = p.process WHERE p.station_id = :s",
                          s=station_id)


@pytest.fixture
async def cluster(tmp_path, postgres_url, monkeypatch, nats) -> AsyncIterator[Cluster]:
    async with running_cluster(tmp_path, postgres_url, monkeypatch, nats, ("node-a", "node-b")) as running:
        yield running


@pytest.fixture
async def three_nodes(tmp_path, postgres_url, monkeypatch, nats) -> AsyncIterator[Cluster]:
    async with running_cluster(tmp_path, postgres_url, monkeypatch, nats, ("node-a", "node-b", "node-c")) as running:
        yield running


@contextlib.asynccontextmanager
async def running_cluster(tmp_path, postgres_url, monkeypatch, nats, names) -> AsyncIterator[Cluster]:
    pki = make_pki(tmp_path, postgres_url, monkeypatch)
    running = Cluster(tmp_path, pki, nats.url, postgres_url, names)
    try:
        await asyncio.gather(*(node.start() for node in running.nodes.values()))
        yield running
    finally:
        for station in running.stations:
            await station.close()
        await asyncio.gather(*(node.stop() for node in running.nodes.values()))
        pki.ctx.engine.dispose()


async def until(condition, timeout: float = 40) -> None:
    # Generous: signing a certificate and starting nodes take seconds on a loaded 2-core machine.
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


def received(station: SimulatedStation, action: str) -> int:
    return sum(1 for name, _ in station.received if name == action)


async def test_a_station_on_node_a_gets_what_an_operator_sends_through_node_b(cluster):
    station = cluster.station("CL-1")
    await cluster.connect(station, "node-a")
    async with cluster.rest("node-b") as rest:
        raw = await rest.post("/api/v1/stations/CL-1/calls", json={
            "action": "TriggerMessage", "payload": {"requestedMessage": "Heartbeat"}})
        assert raw.status_code == 200, raw.text
        assert raw.json()["status"] == "answered" and raw.json()["response"] == {"status": "Accepted"}
        typed = await rest.post("/api/v1/stations/CL-1/commands/TriggerMessage",
                                json={"requested_message": "BootNotification"})
        assert typed.status_code == 200, typed.text
        assert typed.json()["status"] == "answered"
        # A CALLERROR from the station comes back as one, through the relay.
        station.handlers["Reset"] = _refuse_with_callerror
        refused = await rest.post("/api/v1/stations/CL-1/calls", json={"action": "Reset",
                                                                        "payload": {"type": "OnIdle"}})
        assert refused.status_code == 200, refused.text
        assert (refused.json()["status"], refused.json()["error_code"]) == ("error", "NotSupported")
        # Connected nowhere: the same 409 as on one node.
        cluster.station("CL-NOWHERE")
        nowhere = await rest.post("/api/v1/stations/CL-NOWHERE/calls", json={
            "action": "TriggerMessage", "payload": {"requestedMessage": "Heartbeat"}})
        assert nowhere.status_code == 409, nowhere.text
        # A job stored through B is sent by A (which holds the station) once, and answered.
        job = await rest.post("/api/v1/stations/CL-1/calls", json={
            "action": "TriggerMessage", "payload": {"requestedMessage": "Heartbeat"}, "mode": "async"})
        assert job.status_code == 202, job.text
        async with asyncio.timeout(20):
            while (polled := (await rest.get(job.json()["url"])).json())["status"] != "answered":
                await asyncio.sleep(0.1)
        assert polled["response"] == {"status": "Accepted"}
    assert [name for name, _ in station.received] == ["TriggerMessage", "TriggerMessage", "Reset", "TriggerMessage"]
    assert cluster.holder("CL-1") == [("node-a", 1)]
    await asyncio.sleep(6)   # longer than the outbox's scan on both nodes: nothing goes out again
    assert received(station, "TriggerMessage") == 3


async def _refuse_with_callerror(_station, _payload):
    raise StationCallError("NotSupported", "not on this station")


async def test_a_station_that_reconnects_to_another_node_is_served_there_and_the_old_node_lets_go(cluster):
    first = cluster.station("CL-2")
    await cluster.connect(first, "node-a")
    assert cluster.holder("CL-2") == [("node-a", 1)]
    # The same station opens a second connection, to node B (a station whose old TCP connection
    # has not died yet, as after a network change): B claims it, A closes its connection.
    second = cluster.station("CL-2", password=first.password)
    await cluster.connect(second, "node-b")
    code, reason = await first.wait_closed(timeout=10)
    assert (code, reason) == (1000, "replaced by a newer connection of this station")
    assert cluster.holder("CL-2") == [("node-b", 2)]
    # A relays to B now: the call reaches the live connection, not the closed one.
    async with cluster.rest("node-a") as rest:
        answer = await rest.post("/api/v1/stations/CL-2/calls", json={
            "action": "TriggerMessage", "payload": {"requestedMessage": "Heartbeat"}})
    assert answer.status_code == 200 and answer.json()["status"] == "answered", answer.text
    assert (received(first, "TriggerMessage"), received(second, "TriggerMessage")) == (0, 1)
    # Back to A: B lets go in turn; the epoch only grows.
    await second.close()
    await cluster.connect(first, "node-a")
    await until(lambda: cluster.holder("CL-2") == [("node-a", 3)])
    await asyncio.sleep(cluster_lease_renewal())   # a heartbeat of each node: nothing changes
    assert cluster.holder("CL-2") == [("node-a", 3)]
    assert first.connected


def cluster_lease_renewal() -> float:
    from api.cluster.config import ClusterConfig
    return ClusterConfig("", "").renew_every + 1


async def _silent(_station, _payload: dict) -> dict:
    await asyncio.Event().wait()   # never answers: the node dies first
    return {}


async def test_node_a_killed_mid_delivery_the_station_moves_to_node_b_and_the_delivery_ends_once(cluster):
    station, jobs_station = cluster.station("CL-3"), cluster.station("CL-3J")
    station.handlers["CertificateSigned"] = _silent
    jobs_station.handlers["TriggerMessage"] = _silent
    await cluster.connect(station, "node-a")
    await cluster.connect(jobs_station, "node-a")
    assert await station.sign_certificate() == {"status": "Accepted"}
    # An operator's job stored through node B: node A, which holds the station, sends it.
    async with cluster.rest("node-b") as rest:
        job = await rest.post("/api/v1/stations/CL-3J/calls", json={
            "action": "TriggerMessage", "payload": {"requestedMessage": "Heartbeat"}, "mode": "async"})
        assert job.status_code == 202, job.text
    await until(lambda: received(station, "CertificateSigned") == 1 and received(jobs_station, "TriggerMessage") == 1)

    await cluster["node-a"].kill()   # both calls on the wire, neither answer ever sent
    station.handlers["CertificateSigned"] = DEFAULT_HANDLERS["CertificateSigned"]
    jobs_station.handlers["TriggerMessage"] = DEFAULT_HANDLERS["TriggerMessage"]
    await cluster.connect(station, "node-b")   # node A's leases have not expired
    await cluster.connect(jobs_station, "node-b")
    await until(lambda: received(station, "CertificateSigned") == 2 and received(jobs_station, "TriggerMessage") == 2)
    # Whichever was stored first (the delivery when signing beats the job's REST call, or the job).
    await until(lambda: sorted(cluster.query(select(OutboundCall.purpose, OutboundCall.status)))
                == [("certificate_delivery", "answered"), ("operator", "answered")])
    async with cluster.rest("node-b") as rest:
        polled = (await rest.get(job.json()["url"])).json()
    assert (polled["status"], polled["response"]) == ("answered", {"status": "Accepted"})
    issued = cluster.query(select(IssuedCertificate).where(IssuedCertificate.station_id == "CL-3"))
    assert len(issued) == 1
    signed = [payload["certificateChain"] for name, payload in station.received if name == "CertificateSigned"]
    assert len(set(signed)) == 1   # the same chain both times
    await asyncio.sleep(6)   # longer than the outbox's scan: nothing answered goes out again
    # Each sent once on the connection node A served (unanswered) and once on node B's; never more.
    assert (received(station, "CertificateSigned"), received(jobs_station, "TriggerMessage")) == (2, 2)
    results = cluster.query(select(AuditEntry).where(AuditEntry.action == "station.call.result"))
    assert [json.loads(entry.detail)["status"] for entry in results] == ["answered"]
    assert (cluster.holder("CL-3"), cluster.holder("CL-3J")) == ([("node-b", 2)], [("node-b", 2)])


def _authority(cluster: Cluster, role: str, generation: int) -> x509.Certificate:
    return x509.load_pem_x509_certificate(authority(cluster.pki.ctx, role, generation).certificate_pem.encode())


def _leaf(chain_file: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(chain_file.read_bytes())


async def _installs_but_never_answers(station: SimulatedStation, payload: dict) -> dict:
    station.certificates.install(payload)
    return await _silent(station, payload)


async def test_node_a_killed_mid_root_rollover_the_station_moves_to_node_b_and_the_rollover_ends_once(
        cluster, haproxy):
    """The rollover keeps no record of what it sent: each pass re-reads the station's inventory
    (GetInstalledCertificateIds) and its certificates, and sends only what is still missing. So
    when node A dies after the station installed the new root but before A heard its answer, the
    pass the operator runs on node B asks the station, finds the root there and goes on: the
    root, the new station certificate and the old root's deletion each reach the station once.
    The station connects only through HAProxy, as deployed; "node A" is the node it got."""
    balancer = Haproxy(haproxy, [cluster[name].backend() for name in ("node-a", "node-b")], cluster.tmp_path)
    directory = cluster.tmp_path / "CL-ROOT"
    directory.mkdir()
    add_station(cluster.pki.ctx, Actor("cli:test"), "CL-ROOT", security_profile=3)
    chain, key, _ = issue_client_certificate(cluster.pki, "CL-ROOT", directory)
    station = SimulatedStation("CL-ROOT", balancer.wss_url(), profile=3, client_cert=chain, client_key=key,
                               organization=TEST_ORG, call_timeout=10, workdir=directory)
    station.certificates.add(CSMS_ROOT, cluster.pki.hierarchy.root.certificate)
    # Its TLS trusts the roots it holds, as a real station's: deleting the old root is felt.
    station.tls = InstalledRootsTrust(station.certificates, TEST_FQDN)
    station.handlers["InstallCertificate"] = _installs_but_never_answers
    at_delete = []

    def delete_noting_the_hierarchy(station_: SimulatedStation, payload: dict) -> dict:
        at_delete.append((station_.server_certificate.issuer, _leaf(station_.client_cert).issuer))
        return DEFAULT_HANDLERS["DeleteCertificate"](station_, payload)

    station.handlers["DeleteCertificate"] = delete_noting_the_hierarchy
    # It reconnects by itself whenever its connection drops, and after accepting a new certificate.
    keeper = FleetStation(station, online=True)
    keeper.start()
    try:
        await until(lambda: keeper.booted and cluster.holder("CL-ROOT"))
        [(node_a, _)] = cluster.holder("CL-ROOT")
        [node_b] = [name for name in cluster.nodes if name != node_a]
        async with cluster.rest(node_a) as rest:
            first_pass = asyncio.create_task(rest.post("/api/v1/rotations/csms-root",
                                                       json={"begin": True, "max_seconds": 60}))
            await until(lambda: len(station.certificates.certificates(CSMS_ROOT)) == 2)
            await cluster[node_a].kill()   # the new root is on the station, its answer never sent
            with pytest.raises(httpx.TransportError):
                await first_pass   # the operator's request dies with its node
        station.handlers["InstallCertificate"] = DEFAULT_HANDLERS["InstallCertificate"]
        await until(lambda: cluster.holder("CL-ROOT") == [(node_b, 2)])

        async with cluster.rest(node_b) as rest:
            resumed = await rest.post("/api/v1/rotations/csms-root", json={"max_seconds": 60})
            assert resumed.status_code == 200, resumed.text
            status = (await rest.get("/api/v1/rotations/csms-root")).json()
        report = resumed.json()
        assert (report["phase"], report["complete"], report["pending"]) == ("done", True, []), report
        assert outcomes(report, "stage") == {None: "already"}
        assert {g["generation"]: g["state"] for g in status["generations"]} == {1: "retired", 2: "active"}
        assert status["phase"] == "idle"

        root_2 = _authority(cluster, CaRole.ROOT, 2)
        assert station.certificates.certificates(CSMS_ROOT) == [root_2]
        sent = [name for name, _ in station.received]
        assert (sent.count("InstallCertificate"), sent.count("CertificateSigned"),
                sent.count("DeleteCertificate")) == (1, 1, 1), sent
        # The old root went only once the station was on G2: the connection the request came on
        # had verified a G2 server certificate (opened after the switch), and the station held
        # its G2 certificate.
        assert at_delete == [(_authority(cluster, CaRole.SERVER, 2).subject,
                              _authority(cluster, CaRole.STATION, 2).subject)]
        assert _leaf(station.client_cert).issuer == _authority(cluster, CaRole.STATION, 2).subject
        rollover = [e.action for e in cluster.query(select(AuditEntry).where(AuditEntry.action.like("ca.rollover.%"))
                                                    .order_by(AuditEntry.seq))]
        assert rollover == ["ca.rollover.stage", "ca.rollover.activate", "ca.rollover.retire"]
        # Written before each InstallCertificate goes out: node B never tried again.
        installs = cluster.query(select(AuditEntry).where(AuditEntry.action == "station.certificate.install"))
        assert len(installs) == 1
        issued = cluster.query(select(IssuedCertificate).where(IssuedCertificate.station_id == "CL-ROOT"))
        assert len(issued) == 2   # its factory certificate and the one G2 certificate
        deliveries = cluster.query(select(OutboundCall.status).where(OutboundCall.station_id == "CL-ROOT",
                                                                     OutboundCall.purpose == "certificate_delivery"))
        assert deliveries == ["answered"]
        # Never turned away, by TLS or by the CSMS: not after the kill, the switch or the deletion.
        assert keeper.refusals == [] and station.connected and cluster.holder("CL-ROOT")[0][0] == node_b
    finally:
        await keeper.close()
        balancer.stop()


async def test_one_rotation_pass_at_a_time_across_the_cluster(cluster):
    # node A holds the cluster-wide lock of the server-certificate rotation (as a pass would):
    # a pass asked of node B is refused by name, and runs once it is free.
    from storage import advisory_locks
    lock = advisory_locks.SessionLock(cluster.pki.ctx.engine, advisory_locks.rotation("server-certificate"))
    assert lock.acquire()
    try:
        async with cluster.rest("node-b") as rest:
            busy = await rest.post("/api/v1/rotations/server-certificate", json={"dry_run": True})
        assert busy.status_code == 409, busy.text
        assert busy.json()["rule"] == "rotation.busy" and "another node" in busy.json()["error"]
    finally:
        lock.release()
    async with cluster.rest("node-b") as rest:
        free = await rest.post("/api/v1/rotations/server-certificate", json={"dry_run": True})
    assert free.status_code == 200, free.text


class _Door:
    """One node's REST API as the firmware helpers use a CSMS's (tests/support/firmware_support.py)."""

    def __init__(self, rest: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.rest = rest
        self._headers = headers

    def headers(self, _role: str) -> dict[str, str]:
        return dict(self._headers)


async def test_a_firmware_campaign_runs_one_pass_at_a_time_across_the_cluster_and_reaches_both_nodes_once(cluster):
    from storage import advisory_locks
    placed = {"CL-FW-1": "node-a", "CL-FW-2": "node-a", "CL-FW-3": "node-b", "CL-FW-4": "node-b"}
    lock = advisory_locks.SessionLock(cluster.pki.ctx.engine, advisory_locks.FIRMWARE_CAMPAIGN_PASS)
    async with cluster.rest("node-b") as rest:
        image, root_pem = await chargeca_image(_Door(rest, cluster.headers))
        root = x509.load_pem_x509_certificate(root_pem.encode())
        stations = {}
        for station_id, node in placed.items():
            stations[station_id] = station = cluster.station(station_id)
            station.certificates.add(MANUFACTURER_ROOT, root)
            run_in_session(cluster.pki.ctx, lambda s, sid=station_id: store_report(s, sid, (MANUFACTURER_ROOT,), {
                "status": "Accepted", "certificateHashDataChain": [{
                    "certificateType": MANUFACTURER_ROOT,
                    "certificateHashData": certificate_hash_data(root, root).to_ocpp()}]}))
            await cluster.connect(station, node)
        # Another pass holds the cluster's campaign lock (as a node's pass would): no node sends.
        assert lock.acquire()
        try:
            made = await rest.post("/api/v1/firmware/campaigns", json={
                "image_id": image["id"], "station_filter": "CL-FW-*", "per_minute": 600, "max_failures": 1})
            assert made.status_code == 201, made.text
            url = f"/api/v1/firmware/campaigns/{made.json()['id']}"
            await asyncio.sleep(6)   # longer than a campaign pass on both nodes
            assert (await rest.get(url)).json()["counts"] == {"waiting": 4}
            assert [len(sent(station)) for station in stations.values()] == [0, 0, 0, 0]
        finally:
            lock.release()
        async with asyncio.timeout(90):
            while (shown := (await rest.get(url)).json())["status"] == "running":
                await asyncio.sleep(0.2)
    assert (shown["status"], shown["counts"]) == ("finished", {"installed": 4}), shown
    # Each station got it from the node that holds it: the download location is that node's.
    for station_id, node in placed.items():
        (request,) = sent(stations[station_id])
        assert f":{cluster[node].files_port}/" in request["firmware"]["location"], (station_id, node)
    await asyncio.sleep(6)   # a pass on both nodes later: nothing goes out again
    assert [len(sent(station)) for station in stations.values()] == [1, 1, 1, 1]


async def connected_on(cluster: Cluster, station_id: str) -> list[str]:
    """The nodes whose REST API lists the station among its live connections."""
    found = []
    for name in cluster.nodes:
        async with cluster.rest(name) as rest:
            listed = (await rest.get("/api/v1/connections")).json()
        if any(connection["station_id"] == station_id for connection in listed):
            found.append(name)
    return found


async def test_a_station_hopping_across_three_nodes_is_held_by_one_node_at_a_time(three_nodes):
    cluster = three_nodes
    first = cluster.station("CL-4")
    connections = [first] + [cluster.station("CL-4", password=first.password) for _ in range(3)]
    hops = ["node-a", "node-b", "node-c", "node-a"]
    for epoch, (station, node) in enumerate(zip(connections, hops), start=1):
        # The new connection opens while the previous one is still up (a station whose old TCP
        # connection has not died yet): the new node claims it, the previous node lets go.
        await cluster.connect(station, node)
        if epoch > 1:
            await connections[epoch - 2].wait_closed(timeout=10)
        assert cluster.holder("CL-4") == [(node, epoch)]
        await until_async(lambda n=node: connected_on(cluster, "CL-4"), [node])
    # A call from each node reaches the one live connection.
    for name in cluster.nodes:
        async with cluster.rest(name) as rest:
            answer = await rest.post("/api/v1/stations/CL-4/calls", json={
                "action": "TriggerMessage", "payload": {"requestedMessage": "Heartbeat"}})
        assert answer.status_code == 200 and answer.json()["status"] == "answered", answer.text
    assert [received(station, "TriggerMessage") for station in connections] == [0, 0, 0, 3]


async def until_async(probe, expected, timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while (found := await probe()) != expected:
            await asyncio.sleep(0.1)
    assert found == expected


def served_serial(port: int, root: Path) -> int:
    """The serial of the server certificate a new TLS handshake with ``port`` gets (EC offered)."""
    import socket
    import ssl

    from cryptography import x509
    context = ssl.create_default_context(cafile=str(root))
    context.check_hostname = False
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=TEST_FQDN) as tls:
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number


async def test_a_server_certificate_rotation_on_node_b_reloads_node_a_at_once(cluster):
    root = cluster.tmp_path / "root.pem"
    root.write_text(cluster.pki.hierarchy.root.record.certificate_pem)
    before = await asyncio.to_thread(served_serial, cluster["node-a"].wss_port, root)
    async with cluster.rest("node-b") as rest:
        rotated = await rest.post("/api/v1/rotations/server-certificate", json={})
    assert rotated.status_code == 200, rotated.text
    active = {int(record.serial_hex, 16) for record in cluster.query(
        select(IssuedCertificate).where(IssuedCertificate.kind == "server", IssuedCertificate.status == "active"))}
    assert before not in active
    # Node A's own watch looks every 60 s: well before that, the notice made it reload.
    async with asyncio.timeout(5):
        while (served := await asyncio.to_thread(served_serial, cluster["node-a"].wss_port, root)) not in active:
            await asyncio.sleep(0.1)
    assert served in active and served != before


async def test_without_nats_each_node_still_serves_its_own_stations_and_says_the_others_are_unreachable(cluster,
                                                                                                      nats):
    station = cluster.station("CL-5")
    await cluster.connect(station, "node-a")
    nats.stop()
    await asyncio.sleep(1)   # both nodes notice the lost connection
    call = {"action": "TriggerMessage", "payload": {"requestedMessage": "Heartbeat"}}
    async with cluster.rest("node-b") as rest:
        started = asyncio.get_running_loop().time()
        relayed = await rest.post("/api/v1/stations/CL-5/calls", json=call)
        # Answered at once (nothing was sent), not after the call's 30 s timeout.
        assert asyncio.get_running_loop().time() - started < 5
    assert relayed.status_code == 409, relayed.text
    body = relayed.json()
    assert (body["rule"], body["sent"]) == ("station.not_connected", False) and "NATS" in body["error"], body
    async with cluster.rest("node-a") as rest:
        local = await rest.post("/api/v1/stations/CL-5/calls", json=call)
    assert local.status_code == 200 and local.json()["status"] == "answered", local.text
