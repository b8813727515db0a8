"""Shared pieces of the REST tests: a client on a fresh PKI, tokens per role, audit lookups.

Test modules import the fixtures they use from here (conftest.py belongs to the whole suite).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from api.core.audit import Actor, run_in_session
from api.core.context import Context
from api.operations.tokens import create_token
from api.rest.app import create_app
from storage.audit import AuditEntry

ROLES = ("officer", "operator", "auditor")
SETUP_ACTOR = Actor("cli:test-setup")


@dataclass
class Api:
    """A TestClient on a fresh PKI with one token per role."""

    client: TestClient
    pki: Any  # conftest.Pki
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def ctx(self) -> Context:
        return self.pki.ctx

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def token_id(self, role: str) -> str:
        return self.tokens[role].split("_")[1]

    def actor(self, role: str) -> str:
        return f"token:{self.token_id(role)}"

    def audit(self, action: str, target: str | None = None) -> list[AuditEntry]:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        if target is not None:
            query = query.where(AuditEntry.target == target)
        return run_in_session(self.ctx, lambda s: list(s.exec(query)))

    def register_station(self, station_id: str, profile: int = 2) -> dict:
        answer = self.client.post("/api/v1/stations", json={"id": station_id, "security_profile": profile},
                                  headers=self.headers("operator"))
        assert answer.status_code == 201, answer.text
        return answer.json()

    def sign(self, station_id: str, csr_pem: str, role: str = "operator"):
        return self.client.post(f"/api/v1/stations/{station_id}/certificates", json={"csr": csr_pem},
                                headers=self.headers(role))


def new_token(ctx: Context, role: str) -> str:
    return create_token(ctx, SETUP_ACTOR, role, f"{role} for tests").token


@contextmanager
def open_api(pki: Any) -> Iterator[Api]:
    with TestClient(create_app(pki.ctx)) as client:
        yield Api(client, pki, {role: new_token(pki.ctx, role) for role in ROLES})


@pytest.fixture
def api(pki) -> Iterator[Api]:
    """On SQLite and on PostgreSQL."""
    with open_api(pki) as opened:
        yield opened


@pytest.fixture
def sqlite_api(sqlite_pki) -> Iterator[Api]:
    with open_api(sqlite_pki) as opened:
        yield opened


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory) -> Iterator[Api]:
    """One SQLite PKI for a whole module, for tests that read or write under names of their own."""
    from conftest import make_pki

    directory = tmp_path_factory.mktemp("rest")
    with pytest.MonkeyPatch.context() as monkeypatch:
        pki = make_pki(directory, f"sqlite:///{directory / 'chargeca.db'}", monkeypatch)
        try:
            with open_api(pki) as opened:
                yield opened
        finally:
            pki.ctx.engine.dispose()



_SERVE = """
import socket, sys
import uvicorn
from api.core.context import open_context
from api.rest.app import create_app
from api.rest.serving import server_config
from api.core.settings import load_settings
ctx = open_context(load_settings(sys.argv[1]))
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)
config = server_config(create_app(ctx), host="127.0.0.1", port=0, policy=ctx.policy.rest, log_level="warning",
                       lifespan="on")
uvicorn.Server(config).run(sockets=[listener])
"""


@contextmanager
def running_server(ctx: Context, rest_policy: str = "") -> Iterator[str]:
    """The app under a real uvicorn on 127.0.0.1 in a process of its own (no interpreter lock
    shared with the test's clients), configured as `chargeca serve` configures it, with
    ``rest_policy`` (TOML lines) as the [rest] table of the data directory's policy.toml.
    Yields the base URL; SIGTERM stops it the way a service manager does, shutdown included."""
    import os
    import signal
    import subprocess
    import sys
    import time

    ctx.settings.policy_file.write_text(f"[rest]\n{rest_policy}\n", encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-c", _SERVE, str(ctx.settings.data_dir)], stdout=subprocess.PIPE,
                               env=dict(os.environ), text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/crl/none.crl", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None, "uvicorn did not start"
                time.sleep(0.05)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
