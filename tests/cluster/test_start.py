"""Cluster mode at start (`chargeca serve` with CHARGECA_NATS_URL): refused with a clear message
and the set-up exit code when it cannot work, before anything is created or listens."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest
from chargeca_process import chargeca
from conftest import TEST_PASSPHRASE, make_pki

EXIT_SETUP = 3
pytestmark = pytest.mark.slow


def serve(tmp_path, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CHARGECA_")}
    base.update(CHARGECA_DATA=str(tmp_path / "data"), CHARGECA_KEY_PASSPHRASE=TEST_PASSPHRASE,
                CHARGECA_REST_PORT="0", CHARGECA_OCPP_HOST="127.0.0.1", CHARGECA_OCPP_WS_PORT="0",
                CHARGECA_OCPP_WSS_PORT="0", CHARGECA_FILES_HTTPS_PORT="0", CHARGECA_FTP_PORT="0", **env)
    return chargeca("serve", cwd=tmp_path, env=base)


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]   # closed again: nothing listens there


def test_cluster_mode_on_sqlite_is_refused_before_anything_is_created(tmp_path):
    done = serve(tmp_path, CHARGECA_NATS_URL="nats://127.0.0.1:4222")
    assert done.returncode == EXIT_SETUP, done.stderr
    assert done.stderr.startswith("chargeca: error: cluster mode (CHARGECA_NATS_URL=nats://127.0.0.1:4222) "
                                  "needs PostgreSQL, and the database is sqlite")
    assert "CHARGECA_DATABASE_URL=postgresql" in done.stderr
    assert not (tmp_path / "data" / "chargeca.db").exists()


@pytest.mark.postgres
def test_unreachable_nats_is_refused_naming_the_url(tmp_path, postgres_url, monkeypatch):
    make_pki(tmp_path, postgres_url, monkeypatch).ctx.engine.dispose()
    url = f"nats://127.0.0.1:{unused_port()}"
    done = serve(tmp_path, CHARGECA_DATABASE_URL=postgres_url, CHARGECA_NATS_URL=url)
    assert done.returncode == EXIT_SETUP, done.stderr
    assert f"chargeca: error: cannot reach NATS at {url} (CHARGECA_NATS_URL)" in done.stderr
    assert "Uvicorn running" not in done.stdout + done.stderr
