"""`chargeca serve` on a fresh machine: a development PKI on first run, an officer token shown
once, the REST API answering, a clean stop, and nothing recreated on the second start."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from simulator.station import SimulatedStation, TlsOptions


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(tmp_path, port: int, ws_port: int = 0, wss_port: int = 0) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGECA_")}
    env.update(PYTHONUNBUFFERED="1", CHARGECA_REST_PORT=str(port), CHARGECA_OCPP_HOST="127.0.0.1",
               CHARGECA_OCPP_WS_PORT=str(ws_port or _free_port()),
               CHARGECA_OCPP_WSS_PORT=str(wss_port or _free_port()))
    return subprocess.Popen([sys.executable, "-m", "api.cli", "serve"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_ready(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"serve exited early:\n{process.stdout.read()}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    pytest.fail("serve did not answer in time")


def _stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    return output


def test_first_run_creates_a_development_pki_and_serves(tmp_path):
    port = _free_port()
    server = _start(tmp_path, port)
    try:
        _wait_ready(port, server)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/api/v1/ca").status_code == 401
    except BaseException:
        server.kill()
        raise
    output = _stop(server)
    assert server.returncode == 0, output
    token = next(line.split(": ", 1)[1].strip() for line in output.splitlines() if "Officer API token" in line)
    assert (tmp_path / "chargeca-data" / "chargeca.db").exists()
    assert (tmp_path / "chargeca-data" / "secrets" / "key-passphrase").stat().st_mode & 0o077 == 0
    assert "development passphrase" in output

    ws_port, wss_port = _free_port(), _free_port()
    second = _start(tmp_path, port, ws_port, wss_port)
    try:
        _wait_ready(port, second)
        headers = {"Authorization": f"Bearer {token}"}
        answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/ca", headers=headers)
        assert answer.status_code == 200, answer.text
        assert "ChargeCA Development" in answer.text
        asyncio.run(_stations_connect(port, ws_port, wss_port, headers, tmp_path))
        simulated = subprocess.run(
            [sys.executable, "-m", "api.cli", "simulate", "--url", f"ws://127.0.0.1:{ws_port}/ocpp",
             "--stations", "3", "--prefix", "DEMO", "--register", "--rest-url", f"http://127.0.0.1:{port}",
             "--token", token, "--heartbeat", "0.5", "--duration", "2"],
            capture_output=True, text=True, timeout=60)
        assert simulated.returncode == 0, simulated.stderr + simulated.stdout
        assert "booted 3/3" in simulated.stdout
        assert "heartbeats 0" not in simulated.stdout
    finally:
        output = _stop(second)
    assert "Officer API token" not in output, "the first-run token is shown once, never again"
    assert token not in output


async def _stations_connect(port, ws_port, wss_port, headers, tmp_path) -> None:
    """A profile-1 station over ws and a profile-2 station over wss, trusting the served root."""
    base = f"http://127.0.0.1:{port}/api/v1"
    root = tmp_path / "root.pem"
    root.write_text(httpx.get(f"{base}/ca/root.pem", headers=headers).text)
    for station_id, profile, url in (("SIM-1", 1, f"ws://127.0.0.1:{ws_port}/ocpp"),
                                     ("SIM-2", 2, f"wss://127.0.0.1:{wss_port}/ocpp")):
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
