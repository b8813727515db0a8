"""`chargeca serve` as a real process on free ports, for tests that use the service as a user does."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from chargeca_process import Forked, spawn

RUNNING = "ChargeCA is running."


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# A port the kernel handed out for port 0 lies in the ephemeral range, where any outgoing connection
# of another test worker may take it before the service binds it (CI, 2026-12-06: "Address already in
# use" on the WebSocket port). Below that range only an explicit bind takes a port, so each xdist
# worker gets a band of its own there and walks it.
_BAND = 1000
_FLOOR = 10000


def _worker_band() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    bands = max(1, (_ephemeral_low() - _FLOOR) // _BAND)
    start = _FLOOR + (int(worker) if worker.isdigit() else 0) % bands * _BAND
    return range(start, start + _BAND)


# Where this process walks its band from: another process of the same worker (a test run before)
# starts elsewhere.
_offsets = itertools.count(os.getpid() % _BAND)


def free_port() -> int:
    """A loopback port no one holds, outside the kernel's ephemeral range, from this worker's band."""
    band = _worker_band()
    for _ in range(_BAND):
        port = band.start + next(_offsets) % _BAND
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {band.start}-{band.stop - 1}")


@dataclass
class Ports:
    rest: int = field(default_factory=free_port)
    ws: int = field(default_factory=free_port)
    wss: int = field(default_factory=free_port)

    def env(self) -> dict[str, str]:
        """The environment of a user's shell: no CHARGECA_* of ours, but these ports."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGECA_")}
        env.update(PYTHONUNBUFFERED="1", CHARGECA_REST_PORT=str(self.rest), CHARGECA_OCPP_HOST="127.0.0.1",
                   CHARGECA_OCPP_WS_PORT=str(self.ws), CHARGECA_OCPP_WSS_PORT=str(self.wss),
                   # the file service too: several services run at once here
                   CHARGECA_FILES_HTTPS_PORT="0", CHARGECA_FTP_PORT="0", CHARGECA_FTP_PASSIVE_PORTS="")
        return env


@dataclass
class Served:
    process: subprocess.Popen | Forked
    log: Path
    ports: Ports

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.rest}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_running(self, timeout: float = 90) -> str:
        """Until serve printed its next-steps block (REST and OCPP listening); its output so far."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            output = self.output()
            if RUNNING in output:
                return output
            if self.process.poll() is not None:
                pytest.fail(f"serve exited early ({self.process.returncode}):\n{output}")
            time.sleep(0.2)
        self.process.kill()
        pytest.fail(f"serve did not start in time:\n{self.output()}")

    def wait_rest(self, timeout: float = 90) -> None:
        """Until the REST API answers (what any version of serve does once it is up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"serve exited early ({self.process.returncode}):\n{self.output()}")
            try:
                httpx.get(f"{self.rest_url}/openapi.json", timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.process.kill()
        pytest.fail(f"serve did not start in time:\n{self.output()}")

    def stop(self, sig: int = signal.SIGTERM) -> str:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.output()


def start_serve(cwd: Path, ports: Ports | None = None, *args: str, extra_env: dict[str, str] | None = None,
                command: list[str] | None = None) -> Served:
    """``chargeca serve`` in ``cwd`` under umask 022 (a common default), so that what it makes
    private it makes private itself."""
    ports = ports or Ports()
    log = cwd / f"serve-{time.monotonic_ns()}.log"
    env = {**ports.env(), **(extra_env or {})}
    with log.open("w") as handle:
        if command is not None:   # an installed entry point, started as a user starts it
            process = subprocess.Popen([*command, "serve", *args], cwd=cwd, env=env, stdout=handle,
                                       stderr=subprocess.STDOUT, text=True, umask=0o022)
        else:
            process = spawn(["serve", *args], cwd=cwd, env=env, stdout=handle.fileno(), stderr=handle.fileno(),
                            umask=0o022)
    return Served(process, log, ports)


def pid_serving(pids: list[int], client_port: int) -> int | None:
    """Which of ``pids`` holds the server end of the loopback TCP connection whose client end is
    bound to ``client_port`` (from /proc: a socket's inode names the process holding it)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            for line in list(handle)[1:]:
                fields = line.split()
                if int(fields[2].rsplit(":", 1)[1], 16) == client_port and fields[9] != "0":
                    inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
        except FileNotFoundError:
            continue
        for fd in descriptors:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    return pid
            except FileNotFoundError:
                continue
    return None
