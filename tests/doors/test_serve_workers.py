"""`chargeca serve --workers N`: N processes on one machine share every port and the database.

What an operator sees: more than one worker refused on SQLite (and without the cluster's message
bus) with a clear message and exit code 2, before anything is created; on PostgreSQL the
development PKI made once, stations spread over the workers through one port, a worker killed
outright restarted while its stations reconnect to the port and boot again, the REST API
answering throughout, and a clean stop of everything on SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest
from serve_support import Ports, Served, pid_serving, start_serve

from api.cli import EXIT_USAGE, main
from api.core.settings import load_settings
from api.workers import (
    PortReservation,
    WorkerPlan,
    WorkersRefused,
    available_cores,
    unaccepted_connections_advice,
    worker_count,
)
from simulator.station import SimulatedStation, StationRefused
from storage.db import make_engine

NATS = "nats://127.0.0.1:4222"


# --- how many, and refusals (no process started) ------------------------------------------------


@pytest.mark.fast
def test_more_than_one_worker_on_sqlite_is_refused_before_anything_is_made(tmp_path, monkeypatch, capsys):
    for name in [n for n in os.environ if n.startswith("CHARGECA_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CHARGECA_NATS_URL", NATS)
    data = tmp_path / "data"
    assert main(["--data", str(data), "serve", "--workers", "2"]) == EXIT_USAGE
    error = capsys.readouterr().err
    assert "--workers 2 needs PostgreSQL" in error and "SQLite" in error
    assert not data.exists(), "refused before the data directory is made"


@pytest.mark.fast
def test_more_than_one_worker_without_a_message_bus_is_refused(tmp_path, monkeypatch, capsys):
    for name in [n for n in os.environ if n.startswith("CHARGECA_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CHARGECA_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert main(["--data", str(tmp_path / "data"), "serve", "--workers", "3"]) == EXIT_USAGE
    assert "--workers 3 needs the cluster's message bus (CHARGECA_NATS_URL" in capsys.readouterr().err


@pytest.mark.fast
def test_default_is_one_per_core_only_on_postgresql_with_a_message_bus(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("CHARGECA_")]:
        monkeypatch.delenv(name)
    sqlite = load_settings(tmp_path)
    assert worker_count(sqlite, None) == 1
    assert worker_count(sqlite, 1) == 1
    with pytest.raises(WorkersRefused, match="must be 1 or more"):
        worker_count(sqlite, 0)
    monkeypatch.setenv("CHARGECA_DATABASE_URL", "postgresql://u@db/chargeca")
    assert worker_count(load_settings(tmp_path), None) == 1, "no bus: one process"
    monkeypatch.setenv("CHARGECA_NATS_URL", NATS)
    assert worker_count(load_settings(tmp_path), None) == available_cores()


@pytest.mark.fast
def test_each_worker_has_its_own_node_id_and_ftp_passive_slice(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARGECA_NODE_ID", "edge-1")
    monkeypatch.setenv("CHARGECA_FTP_PASSIVE_PORTS", "60000-60099")
    plan = WorkerPlan(load_settings(tmp_path), 3)
    workers = [plan.settings(i) for i in range(3)]
    assert [w.node_id for w in workers] == ["edge-1-w0", "edge-1-w1", "edge-1-w2"]
    assert [w.ftp_passive_ports for w in workers] == ["60000-60032", "60033-60065", "60066-60098"]
    assert all(w.shared_ports for w in workers)


@pytest.mark.fast
def test_a_port_in_use_is_named_at_start():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        reservation = PortReservation()
        with pytest.raises(WorkersRefused, match=f"OCPP wss port {port} on 127.0.0.1: Address already in use"):
            reservation.hold("127.0.0.1", port, "OCPP wss")
        reservation.close()


# --- two real workers on PostgreSQL --------------------------------------------------------------


@pytest.mark.parametrize(("setting", "advised"), [("0\n", True), ("1\n", False), (None, False)])
def test_the_operator_is_told_when_a_dying_worker_would_reset_its_queued_connections(tmp_path, setting, advised):
    path = tmp_path / "tcp_migrate_req"
    if setting is not None:
        path.write_text(setting)
    advice = unaccepted_connections_advice(str(path))
    assert (advice is not None) == advised
    if advised:
        assert "sysctl -w net.ipv4.tcp_migrate_req=1" in advice


def _has_exited(pid: int) -> bool:
    """Every thread of the process gone or a zombie: only then has the kernel closed the sockets
    it held. Its threads share one table of descriptors, closed with the last of them; the main
    thread shows as a zombie as soon as it has exited itself, while others may still be on their
    way out (one in the middle of a write), its listeners still taking connections."""
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError):
        return True
    for thread in threads:
        try:
            state = Path(f"/proc/{pid}/task/{thread}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if state not in ("Z", "X"):
            return False
    return True


def _worker_pids(output: str) -> dict[str, int]:
    """node id -> pid, the latest the supervisor reported."""
    pids = {node: int(pid) for node, pid in re.findall(r"(\S+-w\d) \(pid (\d+)\)", output)}
    pids.update({node: int(pid) for node, pid in re.findall(r"worker (\S+-w\d) serving again \(pid (\d+)\)", output)})
    return pids


def _wait_for(predicate, what: str, served: Served, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"{what} did not happen in {timeout:.0f} s:\n{served.output()}")


async def _boot_all(stations: list[SimulatedStation], served: Served, when: str) -> None:
    for station in stations:
        try:
            await station.connect()
        except StationRefused as exc:
            # Seen once under a loaded machine (2026-12-06, a connect refused without an HTTP
            # answer), not since: say which step it was and what the workers said.
            raise AssertionError(f"{station.identity} could not connect {when} ({exc}); the supervisor and "
                                 f"workers said:\n{served.output()[-6000:]}") from exc
        assert (await station.boot())["status"] == "Accepted"


def _holders(stations: list[SimulatedStation], pids: list[int]) -> dict[str, int | None]:
    return {s.identity: pid_serving(pids, s.websocket.local_address[1]) for s in stations}


def test_two_workers_share_the_ports_survive_a_killed_worker_and_stop_cleanly(tmp_path, postgres_url):
    ports = Ports()
    served = start_serve(tmp_path, ports, "--workers", "2",
                         extra_env={"CHARGECA_DATABASE_URL": postgres_url, "CHARGECA_NATS_URL": NATS,
                                    "CHARGECA_NODE_ID": "edge"})
    try:
        output = served.wait_running()
        assert output.count("ChargeCA is running.") == 1
        assert "2 workers share these ports: edge-w0, edge-w1" in output
        assert output.count("Development PKI created") == 1, "the first run's PKI is made once, by the supervisor"
        engine = make_engine(postgres_url)
        with engine.connect() as connection:
            roots = connection.exec_driver_sql("SELECT count(*) FROM certificate_authority WHERE role = 'root'")
            assert roots.scalar_one() == 1
        engine.dispose()
        pids = _worker_pids(output)
        assert set(pids) == {"edge-w0", "edge-w1"}
        token = (tmp_path / "chargeca-data" / "secrets" / "first-officer-token").read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        asyncio.run(_fleet_across_a_worker_crash(served, ports, headers, pids))
        # The supervisor says what happened and when the worker was back.
        output = served.output()
        assert re.search(r"worker edge-w\d \(pid \d+\) died after \d+ s \(signal SIGKILL\); restarting it in 1 s",
                         output), output
    finally:
        output = served.stop(signal.SIGTERM)
    assert served.process.returncode == 0, output
    assert "SIGTERM: stopping 2 workers" in output
    for pid in _worker_pids(output).values():
        assert not Path(f"/proc/{pid}").exists(), "every worker stopped with the supervisor"
    for port in (ports.ws, ports.wss, ports.rest):
        socket.create_server(("127.0.0.1", port)).close()   # free again: no worker left behind


async def _fleet_across_a_worker_crash(served: Served, ports: Ports, headers: dict, pids: dict[str, int]) -> None:
    base = f"{served.rest_url}/api/v1"
    # A connection per request: one kept alive to the worker about to be killed would fail as
    # any client's would, which is not what the check after the kill is about.
    async with httpx.AsyncClient(headers=headers, timeout=30,
                                 limits=httpx.Limits(max_keepalive_connections=0)) as rest:
        stations = []
        for i in range(16):
            created = await rest.post(f"{base}/stations", json={"id": f"W-{i:02d}", "security_profile": 1})
            assert created.status_code == 201, created.text
            stations.append(SimulatedStation(f"W-{i:02d}", f"ws://127.0.0.1:{ports.ws}/ocpp", profile=1,
                                             password=created.json()["password"]))
        await _boot_all(stations, served, "at first")
        holders = _holders(stations, list(pids.values()))
        assert set(holders.values()) == set(pids.values()), f"the kernel spreads connections over both: {holders}"

        # One worker killed outright: its stations lose their connection, reconnect to the same
        # port and boot again; the REST API keeps answering from the other worker meanwhile.
        victim = "edge-w1"
        orphans = [s for s in stations if holders[s.identity] == pids[victim]]
        os.kill(pids[victim], signal.SIGKILL)
        for station in orphans:
            await station.wait_closed()
        # A connection made while the kernel still tears the victim down can land in its dying
        # listener's queue and be reset (unless net.ipv4.tcp_migrate_req, see api/workers.py):
        # "meanwhile" starts once the victim's sockets are closed.
        await asyncio.to_thread(_wait_for, lambda: _has_exited(pids[victim]), "the victim's exit", served)
        answers = []
        for station in stations:
            try:
                answers.append(await rest.get(f"{base}/stations/{station.identity}"))
            except httpx.TransportError as exc:
                # Seen once in CI and never alone: keep what the workers said for whoever reads it.
                raise AssertionError(f"GET after the kill failed ({exc!r}); the supervisor and workers said:\n"
                                     f"{served.output()[-6000:]}") from exc
        assert [a.status_code for a in answers] == [200] * len(stations)
        await _boot_all(orphans, served, "again after the kill")
        kept = [s for s in stations if s not in orphans]
        assert all(s.connected for s in kept), "the other worker's stations never noticed"
        for station in kept:
            await station.heartbeat()

        # Restarted with the same node id; new connections reach it again.
        restarted = await asyncio.to_thread(
            _wait_for, lambda: _worker_pids(served.output())[victim] != pids[victim] and "serving again"
            in served.output(), "the restart", served)
        assert restarted
        now = _worker_pids(served.output())
        late = []
        for i in range(16):
            created = await rest.post(f"{base}/stations", json={"id": f"L-{i:02d}", "security_profile": 1})
            late.append(SimulatedStation(f"L-{i:02d}", f"ws://127.0.0.1:{ports.ws}/ocpp", profile=1,
                                         password=created.json()["password"]))
        await _boot_all(late, served, "after the restart")
        assert now[victim] in set(_holders(late, list(now.values())).values())
        for station in stations + late:
            await station.close()
