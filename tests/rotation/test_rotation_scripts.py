"""The rotation scripts as an operator runs them: separate processes talking HTTP to the REST
API of a running service (uvicorn on loopback), with simulated stations on profile 3."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

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
