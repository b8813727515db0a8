"""`chargeca simulate` as a user runs it: a station named as the user named it, on profile 3 with
its certificate from files; errors that speak of the profile used; a clean exit when the CSMS stops."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import pytest
from chargeca_process import Forked, chargeca, spawn
from conftest import TEST_FQDN, TEST_ORG
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from csr_factory import make_csr
from ocpp_support import tls_csms  # noqa: F401 - fixture
from serve_support import start_serve

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
    simulated = asyncio.create_task(asyncio.to_thread(
        chargeca, "simulate", "--station", "CP_P3", "--profile", "3", "--cert", str(chain), "--key", str(key),
        "--url", tls_csms.wss_url, "--ca-file", str(tls_csms.root_pem), "--server-name", TEST_FQDN,
        "--duration", "4", timeout=60))
    await tls_csms.until(lambda: tls_csms.gateway.session("CP_P3") is not None, timeout=60)
    assert tls_csms.gateway.session("CP_P3").connection.security_profile == 3
    result = await simulated
    assert result.returncode == 0, result.stderr
    assert "CP_P3: booted (security profile 3" in result.stdout
    assert "booted 1/1" in result.stdout


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
    # A CA file that is not there, or holds no certificate, was a traceback from the first station's connect.
    (("--profile", "2", "--ca-file", "missing-root.pem"), "--ca-file missing-root.pem: no CA certificate to trust"),
    (("--profile", "2", "--ca-file", "."), "--ca-file .: no CA certificate to trust"),
])
def test_simulate_usage_errors_speak_of_the_profile_used(tmp_path, args, message):
    result = chargeca("simulate", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    if "--profile" in args and args[args.index("--profile") + 1] == "3":
        assert "Basic" not in result.stderr


@contextmanager
def _piped(args: list[str], **where) -> Iterator[tuple[Forked, TextIO, TextIO]]:
    """`chargeca ARGS` with its stdout and stderr read here as they come; killed if still running
    at the end."""
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    try:
        process = spawn(args, stdout=out_write, stderr=err_write, **where)
    finally:
        os.close(out_write)
        os.close(err_write)
    with open(out_read, encoding="utf-8") as output, open(err_read, encoding="utf-8") as errors:
        try:
            yield process, output, errors
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_simulate_exits_cleanly_when_the_csms_stops(tmp_path, stop):
    served = start_serve(tmp_path)
    try:
        served.wait_running()
        token = (tmp_path / "chargeca-data" / "secrets" / "first-officer-token").read_text().strip()
        with _piped(["simulate", "--station", "CP_STOP", "--register", "--token", token, "--heartbeat", "0.5",
                     "--duration", "120"], cwd=tmp_path, env=served.ports.env()) as (simulator, output, errors):
            first_line = output.readline()
            assert first_line.startswith("CP_STOP: booted"), first_line + errors.read()
            served.stop(stop)
            started = time.monotonic()
            simulator.wait(60)
            assert time.monotonic() - started < 30, "the simulator notices the stop, not its --duration"
            stdout, stderr = first_line + output.read(), errors.read()
    finally:
        served.stop(signal.SIGKILL)
    assert simulator.returncode == 1
    assert "Traceback" not in stderr + stdout
    expected = "going away" if stop == signal.SIGTERM else "connection lost"
    assert "CP_STOP: " in stdout and expected in stdout
    assert stderr.strip() == "chargeca: error: 1 station(s) lost the connection before --duration ended"


async def test_simulate_reports_a_refused_client_certificate_as_such(tls_csms, tmp_path):
    chain, key = _station_files(tls_csms, tmp_path, "CP_REVOKED")
    serial = format(x509.load_pem_x509_certificates(chain.read_bytes())[0].serial_number, "x")
    revoke_certificate(tls_csms.ctx, Actor("cli:test"), serial, "keyCompromise")
    result = await asyncio.to_thread(
        chargeca, "simulate", "--station", "CP_REVOKED", "--profile", "3", "--cert", str(chain), "--key", str(key),
        "--url", tls_csms.wss_url, "--ca-file", str(tls_csms.root_pem), "--server-name", TEST_FQDN,
        "--duration", "2", timeout=90)
    stdout, stderr = result.stdout, result.stderr
    assert result.returncode == 1
    assert "CP_REVOKED: refused: HTTP 403: client certificate refused" in stdout
    assert "Basic" not in stdout + stderr and "Traceback" not in stderr
    assert stderr.strip() == "chargeca: error: 1 station(s) did not boot"


@pytest.mark.parametrize("rest_url", ["http://127.0.0.1:1", "127.0.0.1:8080"])
def test_simulate_register_with_no_rest_api_there_says_so_in_one_line(tmp_path, rest_url):
    # A refused connection, or a URL without its scheme, was an httpx traceback.
    result = chargeca("simulate", "--register", "--token", "cca_x", "--rest-url", rest_url, "--duration", "1",
                      cwd=tmp_path, timeout=60)
    assert result.returncode == 1, result.stderr
    assert len(result.stderr.splitlines()) == 1 and f"through {rest_url} failed" in result.stderr
