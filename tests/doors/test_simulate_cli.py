"""`chargeca simulate` as a user runs it: a station named as the user named it, on profile 3 with
its certificate from files; errors that speak of the profile used; a clean exit when the CSMS stops."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import TEST_FQDN, TEST_ORG
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from csr_factory import make_csr
from ocpp_support import tls_csms  # noqa: F401 - fixture
from serve_support import CLI, start_serve

from api.core.audit import Actor
from api.csms.security.authority_service import revoke_certificate, sign_csr


def _station_files(csms, tmp_path: Path, station_id: str) -> tuple[Path, Path]:
    csms.add_station(station_id, 3)
    csr, key = make_csr(station_id, TEST_ORG)
    issued = sign_csr(csms.ctx, Actor("cli:test"), station_id, csr)
    chain, key_file = tmp_path / f"{station_id}.pem", tmp_path / f"{station_id}.key"
    chain.write_text(issued.chain_pem)
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return chain, key_file


async def test_simulate_an_explicit_identity_on_profile_3(tls_csms, tmp_path):
    chain, key = _station_files(tls_csms, tmp_path, "CP_P3")
    process = await asyncio.create_subprocess_exec(
        *CLI, "simulate", "--station", "CP_P3", "--profile", "3", "--cert", str(chain), "--key", str(key),
        "--url", tls_csms.wss_url, "--ca-file", str(tls_csms.root_pem), "--server-name", TEST_FQDN,
        "--duration", "4", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        await tls_csms.until(lambda: tls_csms.gateway.session("CP_P3") is not None, timeout=60)
        assert tls_csms.gateway.session("CP_P3").connection.security_profile == 3
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    assert "CP_P3: booted (security profile 3" in stdout.decode()
    assert "booted 1/1" in stdout.decode()


@pytest.mark.parametrize("args, message", [
    (("--profile", "3", "--station", "CP_P3"), "profile 3 authenticates with a TLS client certificate: give --cert"),
    (("--profile", "3", "--station", "CP_P3", "--cert", "missing.pem", "--key", "missing.key"),
     "no client certificate file missing.pem for station CP_P3"),
    (("--profile", "3", "--station", "A", "--station", "B", "--cert", "a.pem", "--key", "a.key"),
     "--cert and --key are one station's; for several, use --cert-dir"),
    (("--profile", "3", "--station", "CP_P3", "--cert", "a.pem"), "needs both --cert"),
    (("--profile", "3", "--station", "CP_P3", "--password", "secret"), "it sends no password"),
    (("--profile", "3", "--url", "ws://127.0.0.1:1/ocpp", "--cert-dir", "."), "connects to a wss:// URL"),
    (("--profile", "2", "--cert-dir", "."), "not a client certificate"),
])
def test_simulate_usage_errors_speak_of_the_profile_used(tmp_path, args, message):
    result = subprocess.run([*CLI, "simulate", *args], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    if "--profile" in args and args[args.index("--profile") + 1] == "3":
        assert "Basic" not in result.stderr


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_simulate_exits_cleanly_when_the_csms_stops(tmp_path, stop):
    served = start_serve(tmp_path)
    simulator = None
    try:
        served.wait_running()
        token = (tmp_path / "chargeca-data" / "secrets" / "first-officer-token").read_text().strip()
        simulator = subprocess.Popen(
            [*CLI, "simulate", "--station", "CP_STOP", "--register", "--token", token, "--heartbeat", "0.5",
             "--duration", "120"], cwd=tmp_path, env=served.ports.env(), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        first_line = simulator.stdout.readline()
        assert first_line.startswith("CP_STOP: booted"), first_line + simulator.stderr.read()
        served.stop(stop)
        started = time.monotonic()
        stdout, stderr = simulator.communicate(timeout=60)
        assert time.monotonic() - started < 30, "the simulator notices the stop, not its --duration"
    finally:
        served.stop(signal.SIGKILL)
        if simulator is not None and simulator.poll() is None:
            simulator.kill()
    assert simulator.returncode == 1
    assert "Traceback" not in stderr + stdout
    expected = "going away" if stop == signal.SIGTERM else "connection lost"
    assert "CP_STOP: " in stdout and expected in stdout
    assert stderr.strip() == "chargeca: error: 1 station(s) lost the connection before --duration ended"


async def test_simulate_reports_a_refused_client_certificate_as_such(tls_csms, tmp_path):
    chain, key = _station_files(tls_csms, tmp_path, "CP_REVOKED")
    serial = format(x509.load_pem_x509_certificates(chain.read_bytes())[0].serial_number, "x")
    revoke_certificate(tls_csms.ctx, Actor("cli:test"), serial, "keyCompromise")
    process = await asyncio.create_subprocess_exec(
        *CLI, "simulate", "--station", "CP_REVOKED", "--profile", "3", "--cert", str(chain), "--key", str(key),
        "--url", tls_csms.wss_url, "--ca-file", str(tls_csms.root_pem), "--server-name", TEST_FQDN,
        "--duration", "2", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = (part.decode() for part in await asyncio.wait_for(process.communicate(), 90))
    assert process.returncode == 1
    assert "CP_REVOKED: refused: HTTP 403: client certificate refused" in stdout
    assert "Basic" not in stdout + stderr and "Traceback" not in stderr
    assert stderr.strip() == "chargeca: error: 1 station(s) did not boot"
