"""HAProxy in front of two `chargeca serve` nodes on one PostgreSQL, as deploy/haproxy.cfg ships.

The nodes are a cluster (a private NATS server). A profile-3 station connects to the load
balancer with its client certificate (TCP passthrough: the node checks the certificate), boots,
and is held by one node; an operator's call made through the other node's REST reaches it
(relayed). That node is killed outright (SIGKILL); the station's connection drops, it reconnects
to the same load-balancer address, lands on the other node and boots again, and a call through
that node reaches it there. Runs the distribution's HAProxy; without it the test skips, under
CI=true it fails (.ci/run installs it).
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from chargeca_process import chargeca
from cluster_support import Backend, Haproxy, haproxy_binary, private_nats
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from serve_support import Ports, Served, free_port, start_serve

from simulator.station import SimulatedStation, TlsOptions

STATION = "CP_LB_1"


@pytest.fixture
def haproxy() -> str:
    return haproxy_binary()


@dataclass
class Node:
    served: Served
    files_port: int
    env: dict[str, str]     # what a `chargeca` command on this node's machine runs with


@pytest.fixture
def nats():
    yield from private_nats()


def _node(directory: Path, postgres_url: str, nats_url: str, name: str, *args: str) -> Node:
    ports, files_port = Ports(), free_port()
    env = {"CHARGECA_DATABASE_URL": postgres_url, "CHARGECA_NATS_URL": nats_url, "CHARGECA_NODE_ID": name,
           "CHARGECA_FILES_HTTPS_PORT": str(files_port)}
    # One process a node: a second machine is what this test plays (workers have their own test).
    return Node(start_serve(directory, ports, "--workers", "1", *args, extra_env=env), files_port,
                {**ports.env(), **env})


def _station_certificate(node_dir: Path, node: Node, workdir: Path) -> tuple[Path, Path]:
    """A key and CSR made as a station makes them, signed by the CSMS's station CA (`chargeca cert sign`)."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, STATION)])).sign(key, hashes.SHA256())
    (workdir / "station.csr").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    signed = chargeca("cert", "sign", "--station", STATION, "--csr", str(workdir / "station.csr"), cwd=node_dir,
                      env=node.env)
    assert signed.returncode == 0, signed.stderr
    (workdir / "station.pem").write_text(signed.stdout)
    (workdir / "station.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return workdir / "station.pem", workdir / "station.key"


def _holder(nodes: dict[str, Served], headers: dict) -> list[str]:
    """The nodes whose REST API lists the station among the connections it holds."""
    holding = []
    for name, node in nodes.items():
        if node.process.poll() is not None:
            continue
        answer = httpx.get(f"{node.rest_url}/api/v1/connections", headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        if any(c["station_id"] == STATION and c["security_profile"] == 3 and c["client_certificate_serial"]
               for c in answer.json()):
            holding.append(name)
    return holding


def test_a_profile3_station_boots_through_haproxy_and_again_on_the_other_node_when_its_node_is_killed(
        tmp_path, postgres_url, haproxy, nats):
    dir_a, dir_b = tmp_path / "node-a", tmp_path / "node-b"
    dir_a.mkdir()
    node_a = _node(dir_a, postgres_url, nats.url, "node-a")
    nodes: dict[str, Node] = {"node-a": node_a}
    balancer = None
    try:
        node_a.served.wait_running()
        # A second machine gets the first one's keys and secrets (or both use one HSM); the
        # database is the shared one, so it makes nothing of its own.
        shutil.copytree(dir_a / "chargeca-data", dir_b / "chargeca-data", ignore=shutil.ignore_patterns("files"))
        node_b = nodes["node-b"] = _node(dir_b, postgres_url, nats.url, "node-b", "--no-dev-init")
        node_b.served.wait_running()
        token = (dir_a / "chargeca-data" / "secrets" / "first-officer-token").read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        added = httpx.post(f"{node_b.served.rest_url}/api/v1/stations", json={"id": STATION, "security_profile": 3},
                           headers=headers)
        assert added.status_code == 201, added.text
        cert, key = _station_certificate(dir_a, node_a, tmp_path)
        root = tmp_path / "root.pem"
        root.write_text(httpx.get(f"{node_a.served.rest_url}/api/v1/ca/root.pem", headers=headers).text)

        balancer = Haproxy(haproxy, [Backend(n.served.ports.wss, n.served.ports.ws, n.files_port)
                                     for n in nodes.values()], tmp_path)
        served = {name: node.served for name, node in nodes.items()}
        asyncio.run(_boot_kill_reconnect(served, headers, balancer, cert, key, root))
    finally:
        if balancer is not None:
            balancer.stop()
        for node in nodes.values():
            node.served.stop()


async def _boot_kill_reconnect(nodes: dict[str, Served], headers: dict, balancer: Haproxy, cert: Path, key: Path,
                               root: Path) -> None:
    station = SimulatedStation(STATION, balancer.wss_url(), profile=3, client_cert=cert,
                               client_key=key, tls=TlsOptions(ca_file=root, server_hostname="chargeca.localhost"))
    await _connect_patiently(station)
    assert (await station.boot())["status"] == "Accepted"
    [first] = await asyncio.to_thread(_holder, nodes, headers)
    assert f"chargeca_wss/{'node1' if first == 'node-a' else 'node2'}" in balancer.log.read_text(), \
        "HAProxy says which node it chose"
    [other] = [name for name in nodes if name != first]
    await _triggered_through(nodes[other], headers, station)   # relayed to the node holding it

    nodes[first].process.send_signal(signal.SIGKILL)
    nodes[first].process.wait(timeout=10)
    await station.wait_closed(timeout=30)
    await _connect_patiently(station)      # as a station does: the same address again
    assert (await station.boot())["status"] == "Accepted"
    [second] = await asyncio.to_thread(_holder, nodes, headers)
    assert second != first
    await station.heartbeat()
    await _triggered_through(nodes[second], headers, station)
    await station.close()


async def _triggered_through(node: Served, headers: dict, station: SimulatedStation) -> None:
    """An operator's TriggerMessage sent through ``node``'s REST API reaches the station."""
    async with httpx.AsyncClient(timeout=30) as rest:
        answer = await rest.post(f"{node.rest_url}/api/v1/stations/{STATION}/calls", headers=headers,
                                 json={"action": "TriggerMessage", "payload": {"requestedMessage": "Heartbeat"}})
    assert answer.status_code == 200 and answer.json()["response"] == {"status": "Accepted"}, answer.text
    assert station.received and station.received[-1][0] == "TriggerMessage"


async def _connect_patiently(station: SimulatedStation, timeout: float = 30) -> None:
    """Connect, retrying for a while (HAProxy may need a check or two to see a node up or down)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await station.connect()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
