"""`chargeca serve` on a fresh machine: a development PKI on first run, an officer token in a
private file (never in the output), private data files, a server certificate a lab reaches by
127.0.0.1 or localhost, what to do next, a clean stop, and nothing recreated on the second start."""

from __future__ import annotations

import asyncio
import socket
import ssl
import stat
from pathlib import Path

import httpx
import pytest
from chargeca_process import chargeca
from cryptography import x509
from serve_support import Ports, Served, start_serve

from simulator.station import SimulatedStation, TlsOptions


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory) -> Served:
    """One development first run, shared by the tests that only look at it."""
    served = start_serve(tmp_path_factory.mktemp("first-run"))
    try:
        served.wait_rest()
        yield served
    finally:
        served.stop()


def _data(served: Served) -> Path:
    return served.log.parent / "chargeca-data"


def _token(served: Served) -> str:
    return (_data(served) / "secrets" / "first-officer-token").read_text().strip()


def test_first_run_keeps_every_data_file_private(dev_server):
    data = _data(dev_server)
    assert (data / "chargeca.db-wal").exists(), "the WAL is there while the service runs"
    found = [data, *data.rglob("*")]
    assert {p.name for p in found} >= {"chargeca.db", "chargeca.db-wal", "chargeca.db-shm", "secrets",
                                       "first-officer-token", "key-passphrase", "keys"}
    loose = {str(p.relative_to(data.parent)): oct(p.stat().st_mode & 0o777) for p in found
             if p.stat().st_mode & 0o077}
    assert loose == {}, "group/others may read nothing in the data directory"
    for path in found:
        expected = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == expected, path


def test_first_run_token_goes_to_a_private_file_not_the_output(dev_server):
    token = _token(dev_server)
    assert token.startswith("cca_")
    output = dev_server.output()
    assert token not in output
    assert token.split("_", 2)[2] not in output, "not even the secret part"  # which may hold "_" itself
    assert str(_data(dev_server) / "secrets" / "first-officer-token") in output
    answer = httpx.get(f"{dev_server.rest_url}/api/v1/ca", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text


def test_start_says_what_to_do_next(dev_server):
    output = dev_server.wait_running(timeout=10)
    block = output[output.index("ChargeCA is running."):]
    assert f"in {_data(dev_server) / 'secrets' / 'first-officer-token'}" in block
    assert "chargeca ca root --out root.pem" in block
    assert "chargeca station add CP_1" in block
    assert "chargeca.localhost, localhost, 127.0.0.1, ::1" in block
    assert f"wss://127.0.0.1:{dev_server.ports.wss}/ocpp" in block
    assert "token create" not in block, "a token exists: nothing to make"


def test_serve_tunes_the_collector_and_the_interpreter_lock_by_default(dev_server):
    """Python's 5 ms would let the event loop keep the lock that long from the group commit's
    thread each time it comes back from the database (api/core/settings.py); Python's collector
    thresholds (700, 10, 10) would stop the loop for a young collection every few connections
    (api/server.py)."""
    output = dev_server.wait_running(timeout=10)
    assert "interpreter: collector thresholds 50000/3/10, thread switch interval 0.25 ms" in output


def _served_certificate(root: Path, port: int, server_hostname: str) -> x509.Certificate:
    context = ssl.create_default_context(cafile=str(root))   # the only trust anchor; names checked
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=server_hostname) as tls:
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "chargeca.localhost"])
def test_lab_connects_by_loopback_name_with_host_checking(dev_server, tmp_path, name):
    root = tmp_path / "root.pem"
    fetched = chargeca("ca", "root", "--out", str(root), cwd=dev_server.log.parent, env=dev_server.ports.env(),
                       timeout=60)
    assert fetched.returncode == 0, fetched.stderr
    certificate = _served_certificate(root, dev_server.ports.wss, name)
    assert certificate.subject.rfc4514_string().startswith("CN=chargeca.localhost")
    with pytest.raises(ssl.SSLCertVerificationError, match="match|mismatch"):
        _served_certificate(root, dev_server.ports.wss, "other.example")


def test_serve_after_a_production_init_says_how_to_make_the_first_token(tmp_path):
    ports = Ports()
    passphrase = {"CHARGECA_KEY_PASSPHRASE": "production-passphrase-123"}
    init = chargeca("init", "--org", "Acme CSO", "--fqdn", "csms.acme.test", cwd=tmp_path,
                    env={**ports.env(), **passphrase})
    assert init.returncode == 0, init.stderr
    # A knob set for this run reaches the process (the default is checked above).
    served = start_serve(tmp_path, ports, "--no-dev-init",
                         extra_env={**passphrase, "CHARGECA_OCPP_SWITCH_INTERVAL_MS": "2.5"})
    try:
        output = served.wait_running()
    finally:
        served.stop()
    assert "officer token   none yet: chargeca token create --role officer" in output
    assert "first-officer-token" not in output
    assert not (tmp_path / "chargeca-data" / "secrets" / "first-officer-token").exists()
    assert "host names        csms.acme.test (in the server certificate)" in output
    assert "thread switch interval 2.5 ms" in output


def test_first_run_creates_a_development_pki_and_serves(tmp_path):
    ports = Ports()
    server = start_serve(tmp_path, ports)
    try:
        server.wait_running()
        assert httpx.get(f"{server.rest_url}/api/v1/ca").status_code == 401
    finally:
        output = server.stop()
    assert server.process.returncode == 0, output
    token = _token(server)
    assert (tmp_path / "chargeca-data" / "chargeca.db").exists()
    assert "development passphrase" in output

    second = start_serve(tmp_path, Ports(rest=ports.rest))
    try:
        second.wait_running()
        headers = {"Authorization": f"Bearer {token}"}
        answer = httpx.get(f"{second.rest_url}/api/v1/ca", headers=headers)
        assert answer.status_code == 200, answer.text
        assert "ChargeCA Development" in answer.text
        asyncio.run(_stations_connect(second, headers, tmp_path))
        simulated = chargeca("simulate", "--stations", "3", "--prefix", "DEMO", "--register", "--token", token,
                             "--heartbeat", "0.5", "--duration", "2", env=second.ports.env(), timeout=60)
        assert simulated.returncode == 0, simulated.stderr + simulated.stdout
        assert "booted 3/3" in simulated.stdout
        assert "heartbeats 0" not in simulated.stdout
    finally:
        output = second.stop()
    assert "Development PKI created" in server.output()
    assert "Development PKI created" not in output, "nothing is created on the second start"
    assert token not in output


async def _stations_connect(served: Served, headers, tmp_path) -> None:
    """A profile-1 station over ws and a profile-2 station over wss, trusting the served root."""
    base = f"{served.rest_url}/api/v1"
    root = tmp_path / "root.pem"
    root.write_text(httpx.get(f"{base}/ca/root.pem", headers=headers).text)
    for station_id, profile, url in (("SIM-1", 1, f"ws://127.0.0.1:{served.ports.ws}/ocpp"),
                                     ("SIM-2", 2, f"wss://127.0.0.1:{served.ports.wss}/ocpp")):
        created = httpx.post(f"{base}/stations", json={"id": station_id, "security_profile": profile},
                             headers=headers)
        assert created.status_code == 201, created.text
        station = SimulatedStation(station_id, url, profile=profile, password=created.json()["password"],
                                   tls=TlsOptions(ca_file=root, server_hostname="chargeca.localhost"))
        await station.connect()
        try:
            assert (await station.boot())["status"] == "Accepted"
        finally:
            await station.close()
