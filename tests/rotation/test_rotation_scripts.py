"""The rotation scripts as an operator runs them: separate processes talking HTTP to the REST
API of a running service (uvicorn on loopback), with simulated stations on profile 3."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from rotation_support import Service, make_fleet, running_service

from storage.types import utcnow

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@contextlib.asynccontextmanager
async def http_api(service: Service) -> AsyncIterator[str]:
    server = uvicorn.Server(uvicorn.Config(service.app, host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="off"))
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def script(url: str, token: str, name: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "CHARGECA_TOKEN": token}
    process = await asyncio.create_subprocess_exec(sys.executable, str(SCRIPTS / name), "--url", url, *args,
                                                   env=env, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(120):
        out, err = await process.communicate()
    return process.returncode, out.decode(), err.decode()


async def test_the_scripts_plan_refuse_time_out_and_finish_a_rollover(sqlite_pki, tmp_path):
    async with running_service(sqlite_pki) as service, http_api(service) as url:
        officer, operator = service.tokens["officer"], service.tokens["operator"]
        fleet = await make_fleet(service, sqlite_pki, tmp_path, 2, prefix="CLI", additional_root_check={1},
                                 issued_at=utcnow() - timedelta(days=360))
        try:
            status, out, _ = await script(url, officer, "rotate_server_cert.py", "--dry-run")
            assert status == 0 and "plan: server-certificate" in out and " issue " in out and "planned" in out

            # Refusals: one line on stderr that says why, and a non-zero exit.
            status, _, err = await script(url, officer, "rotate_csms_root.py")
            assert status == 2 and len(err.strip().splitlines()) == 1 and "rollover.not_started" in err
            status, _, err = await script(url, operator, "rotate_station_certs.py", "--all")
            assert status == 2 and "403" in err and "officer" in err

            # An offline station keeps a rotation pending until the timeout.
            fleet.set_online(["CLI-01"], False)
            await fleet.until_offline(["CLI-01"])
            status, out, err = await script(url, operator, "rotate_station_certs.py", "--expiring-within-days", "30",
                                            "--until-done", "--timeout", "4", "--pause", "0.5", "--max-seconds", "2")
            assert status == 3 and "CLI-01" in err and "timed out" in err, (out, err)
            assert "CLI-00" in out and "done" in out

            # The whole root rollover from the command line, the station back online.
            fleet.set_online(["CLI-01"])
            await fleet.until_connected(["CLI-01"])
            status, out, err = await script(url, officer, "rotate_csms_root.py", "--begin", "--until-done",
                                            "--timeout", "90", "--pause", "0.5")
            assert status == 0, (out, err)
            last_pass = [line for line in out.splitlines() if line.startswith("pass ")][-1]
            assert last_pass.startswith("pass") and "phase done, complete" in last_pass
            status, out, _ = await script(url, officer, "rotate_csms_root.py", "--status")
            assert status == 0 and out.startswith("rollover: idle") and "G1: retired" in out
            assert fleet.refusals() == {}
        finally:
            await fleet.close()


class _NotChargeCa(http.server.BaseHTTPRequestHandler):
    """Another web service on the port --url names by mistake: 200 and a page, to everything."""

    def _page(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html><body>Welcome</body></html>")

    do_GET = do_POST = _page

    def log_message(self, *_args) -> None:
        pass


@contextlib.contextmanager
def not_chargeca() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotChargeCa)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


CARELESS = {
    "url not a URL": (["rotate_csms_root.py", "--url", "http://[::1", "--status"], "cca_1_x", "--url"),
    "token not ASCII": (["rotate_csms_root.py", "--url", "http://127.0.0.1:9", "--status"], "cca_1_tök", "token"),
    "pause negative": (["rotate_station_certs.py", "--url", "http://127.0.0.1:9", "--expiring-within-days", "3",
                        "--until-done", "--pause", "-1"], "cca_1_x", "--pause"),
    "timeout not a number": (["rotate_csms_root.py", "--url", "http://127.0.0.1:9", "--until-done",
                              "--timeout", "nan"], "cca_1_x", "--timeout"),
    "max-seconds over the server's limit": (["rotate_server_cert.py", "--url", "http://127.0.0.1:9",
                                             "--max-seconds", "601"], "cca_1_x", "--max-seconds"),
    "status from another service": (["rotate_csms_root.py", "--url", "{other}", "--status"], "cca_1_x", "--url"),
    "pass from another service": (["rotate_server_cert.py", "--url", "{other}"], "cca_1_x", "--url"),
}


@pytest.mark.parametrize("case", CARELESS)
def test_careless_arguments_end_with_exit_2_and_one_message_not_a_traceback(case):
    argv, token, named = CARELESS[case]
    with not_chargeca() as other:
        done = subprocess.run([sys.executable, str(SCRIPTS / argv[0]), *(a.format(other=other) for a in argv[1:])],
                              capture_output=True, text=True, timeout=60,
                              env={**os.environ, "CHARGECA_TOKEN": token})
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and named in done.stderr.splitlines()[-1], done.stderr[-2000:]
    assert "tök" not in done.stderr   # the token is never echoed
