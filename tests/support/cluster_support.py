"""Several `chargeca serve` nodes on one PostgreSQL and a private NATS server, for tests and the
relay benchmark: real processes on loopback, a real station (the simulator, profile 2 over wss),
and HAProxy in front of them as deploy/haproxy.cfg ships.

Each test gets its own nats-server on a free port: nodes of different tests (all named node-a,
node-b, ...) never hear each other's subjects.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from chargeca_process import Forked, start_piped
from serve_support import free_port

IN_CI = os.environ.get("CI", "").lower() == "true"
HAPROXY_CFG = Path(__file__).resolve().parents[2] / "deploy" / "haproxy.cfg"
_LISTENING = re.compile(r"OCPP listening: ws port (\d+) .* wss port (\d+)")
_FILES = re.compile(r"file service: HTTPS port (\d+)")
_REST = re.compile(r"Uvicorn running on (http://127.0.0.1:\d+)")


def nats_server_binary() -> str | None:
    return shutil.which("nats-server") or next(
        (path for path in ("/usr/sbin/nats-server", "/usr/bin/nats-server") if os.access(path, os.X_OK)), None)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _missing(reason: str) -> None:
    """Skip the test, or fail it under CI=true (.ci/run installs what the tests need)."""
    import pytest

    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


class NatsServer:
    """A private nats-server on loopback; ``stop`` ends it."""

    def __init__(self, binary: str) -> None:
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self._process = subprocess.Popen([binary, "-a", "127.0.0.1", "-p", str(self.port)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"nats-server did not listen on port {self.port}")

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            self._process.wait(10)


def private_nats() -> Iterator[NatsServer]:
    """A generator for a fixture: skips without nats-server (fails under CI=true)."""
    binary = nats_server_binary()
    if binary is None:
        _missing("nats-server is not installed (Debian package nats-server)")
    server = NatsServer(binary)
    try:
        yield server
    finally:
        server.stop()


class Node:
    """One `chargeca serve` process of the cluster; ``start`` again after ``kill`` restarts it."""

    def __init__(self, name: str, directory: Path, db_url: str, nats_url: str | None, passphrase: str,
                 extra_env: dict[str, str] | None = None) -> None:
        self.name = name
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGECA_")}
        env.update(PYTHONUNBUFFERED="1", CHARGECA_DATA=str(directory / "data"), CHARGECA_DATABASE_URL=db_url,
                   CHARGECA_KEY_PASSPHRASE=passphrase, CHARGECA_REST_PORT="0",
                   CHARGECA_OCPP_HOST="127.0.0.1", CHARGECA_OCPP_WS_PORT="0", CHARGECA_OCPP_WSS_PORT="0",
                   CHARGECA_FILES_HTTPS_PORT="0", CHARGECA_FTP_PORT="0", CHARGECA_FTP_PASSIVE_PORTS="",
                   # On threads of the node: spawned file-service interpreters were 18 % of the suite's
                   # sampled CPU (py-spy), and only the campaign test moves files (test_serve, the README
                   # and tests/csms/file_transfer run the default, a process of its own).
                   CHARGECA_FILES_PROCESS="inline",
                   # The host in the download and upload locations stations get: where the node listens.
                   CHARGECA_FILES_PUBLIC_NAME="127.0.0.1",
                   **({"CHARGECA_NATS_URL": nats_url} if nats_url else {}), **(extra_env or {}))
        self._env = env
        self._directory = directory
        self._process: Forked | None = None
        self._stdout: asyncio.StreamReader | None = None
        self._drain: asyncio.Task | None = None
        self.output: list[str] = []
        self.ws_port = self.wss_port = self.files_port = 0
        self.rest_url = ""

    def wss_url(self, station_id: str) -> str:
        return f"wss://127.0.0.1:{self.wss_port}/ocpp/{station_id}"

    @property
    def pid(self) -> int:
        return self._process.pid

    async def start(self, timeout: float = 120, *, node: str | None = None) -> None:
        """Start (again, after ``kill``); ``node``: under that node name from now on, as another
        machine would take over the same database."""
        if node is not None:
            self.name = node
        self._process, self._stdout = await start_piped(["serve", "--workers", "1"], cwd=self._directory,
                                                        env={**self._env, "CHARGECA_NODE_ID": self.name})
        self.rest_url = ""
        self.wss_port = 0
        async with asyncio.timeout(timeout):
            while not (self.wss_port and self.rest_url):
                line = (await self._stdout.readline()).decode(errors="replace")
                if not line:
                    raise RuntimeError(f"node {self.name} exited early:\n" + "".join(self.output))
                self._read(line)
        self._drain = asyncio.create_task(self._read_rest(self._stdout))

    def _read(self, line: str) -> None:
        self.output.append(line)
        if listening := _LISTENING.search(line):
            self.ws_port, self.wss_port = int(listening.group(1)), int(listening.group(2))
        if files := _FILES.search(line):
            self.files_port = int(files.group(1))
        if rest := _REST.search(line):
            self.rest_url = rest.group(1)

    async def _read_rest(self, stdout: asyncio.StreamReader) -> None:
        while line := await stdout.readline():
            self._read(line.decode(errors="replace"))

    def backend(self) -> Backend:
        return Backend(self.wss_port, self.ws_port, self.files_port)

    async def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is released or flushed by the process."""
        self._process.kill()
        await self._process.wait_async()
        await self._drain

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            try:
                await self._process.wait_async(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                await self._process.wait_async()
            if self._drain is not None:
                await self._drain

    def log(self) -> str:
        return "".join(self.output)


# --- HAProxy ----------------------------------------------------------------------------------------


def haproxy_binary() -> str:
    """For a fixture: the distribution's HAProxy; skips without it (fails under CI=true)."""
    path = shutil.which("haproxy")
    if path is None:
        _missing("haproxy is not installed (Debian: apt-get install haproxy; .ci/run installs it)")
    return path


@dataclass(frozen=True)
class Backend:
    """A node's ports, as HAProxy reaches them."""

    wss: int
    ws: int
    files: int


class Haproxy:
    """deploy/haproxy.cfg, used as it is, in front of ``backends`` (node1, node2 in that order):
    stations connect to ``wss_url``; ``log`` holds its lines (which node each connection got)."""

    def __init__(self, binary: str, backends: list[Backend], workdir: Path) -> None:
        self.ports = {"wss": free_port(), "ws": free_port(), "files": free_port()}
        env = {**os.environ, "LB_WSS_BIND": f"127.0.0.1:{self.ports['wss']}",
               "LB_WS_BIND": f"127.0.0.1:{self.ports['ws']}", "LB_FILES_BIND": f"127.0.0.1:{self.ports['files']}"}
        for i, backend in enumerate(backends, start=1):
            env.update({f"NODE{i}_HOST": "127.0.0.1", f"NODE{i}_WSS": str(backend.wss),
                        f"NODE{i}_WS": str(backend.ws), f"NODE{i}_FILES": str(backend.files)})
        self.log = workdir / "haproxy.log"
        with self.log.open("w") as handle:
            self._process = subprocess.Popen([binary, "-db", "-f", str(HAPROXY_CFG)], env=env, stdout=handle,
                                             stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while not _accepts(self.ports["wss"]):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"haproxy did not start:\n{self.log.read_text()}")
            time.sleep(0.1)

    def wss_url(self) -> str:
        return f"wss://127.0.0.1:{self.ports['wss']}/ocpp"

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            self._process.wait(10)
