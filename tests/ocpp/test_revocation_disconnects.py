"""Revoking a station certificate ends the live profile-3 connections that present it, whichever
door revoked it (REST, CLI in another process, the supersession worker), and the station cannot
come back with it. Real server, real profile-3 simulated stations over wss."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time

import pytest
from certificate_support import Clock, certificate_csms
from chargeca_process import chargeca
from conftest import TEST_PASSPHRASE
from ocpp_transport_helpers import issue_client_certificate

from simulator.station import StationRefused

REVOKED_CLOSE = 1008


async def _closed_within(station, seconds: float) -> tuple[int | None, str, float]:
    started = time.monotonic()
    code, reason = await station.wait_closed(timeout=seconds)
    return code, reason, time.monotonic() - started


async def test_revoking_over_rest_closes_the_session_within_a_second_and_reconnect_is_refused(sqlite_pki, tmp_path):
    async with certificate_csms(sqlite_pki) as harness:
        station = await harness.sp3_station("RV-REST", tmp_path)
        bystander = await harness.sp3_station("RV-BYSTANDER", tmp_path)
        (certificate,) = harness.certificates("RV-REST")

        answer = await harness.csms.rest.post(f"/api/v1/certificates/{certificate.serial_hex}/revoke",
                                              json={"reason": "keyCompromise"},
                                              headers=harness.csms.headers("officer"))
        assert answer.status_code == 200, answer.text
        code, reason, took = await _closed_within(station, 1.0)

        assert code == REVOKED_CLOSE and "revoked" in reason and certificate.serial_hex in reason
        assert took < 1.0
        await harness.until(lambda: harness.csms.gateway.session("RV-REST") is None)
        with pytest.raises(StationRefused) as refused:
            await station.reconnect()
        assert refused.value.status == 403
        assert bystander.connected and (await bystander.heartbeat())["currentTime"]


async def cli(ctx, *args: str) -> subprocess.CompletedProcess:
    """The real `chargeca` command, in another process, on the running service's database."""
    env = {**os.environ, "CHARGECA_DATA": str(ctx.settings.data_dir), "CHARGECA_KEY_PASSPHRASE": TEST_PASSPHRASE,
           "CHARGECA_DATABASE_URL": ctx.engine.url.render_as_string(hide_password=False)}
    return await asyncio.to_thread(chargeca, *args, env=env, timeout=60)


@pytest.mark.parametrize("door", ["cert revoke", "station disable"])
async def test_the_cli_in_another_process_closes_the_session(sqlite_pki, tmp_path, door):
    async with certificate_csms(sqlite_pki) as harness:
        station = await harness.sp3_station("RV-CLI", tmp_path)
        (certificate,) = harness.certificates("RV-CLI")
        args = (["cert", "revoke", certificate.serial_hex, "--reason", "keyCompromise"] if door == "cert revoke"
                else ["station", "disable", "RV-CLI"])

        done = await cli(harness.csms.ctx, *args)

        assert done.returncode == 0, done.stderr
        # Another process: found by the poll ([sessions] disconnect_poll_seconds, 1 s by default).
        code, reason, _took = await _closed_within(station, 3.0)
        assert code == REVOKED_CLOSE and ("revoked" if door == "cert revoke" else "disabled") in reason
        await harness.until(lambda: harness.csms.gateway.session("RV-CLI") is None)
        with pytest.raises(StationRefused) as refused:
            await station.reconnect()
        assert refused.value.status == 403


async def test_the_supersession_worker_closes_a_session_on_the_certificate_it_revokes(sqlite_pki, tmp_path):
    clock = Clock()
    async with certificate_csms(sqlite_pki, clock=clock) as harness:
        harness.csms.add_station("RV-OLD", profile=3)
        old_chain, old_key, old_serial = issue_client_certificate(sqlite_pki, "RV-OLD", tmp_path)
        new_chain, new_key, _new_serial = issue_client_certificate(sqlite_pki, "RV-OLD", tmp_path)
        station = harness.csms.simulator("RV-OLD", profile=3, client_cert=new_chain, client_key=new_key)
        await station.connect()   # the newer certificate is now active, the older one superseded
        await harness.csms.connected("RV-OLD")
        await station.close()
        await harness.until(lambda: harness.csms.gateway.session("RV-OLD") is None)
        # The station falls back to its older certificate (A02.FR.28): superseded, still valid.
        station.client_cert, station.client_key = old_chain, old_key
        station._ws, station._reader = None, None
        await station.connect()
        await harness.csms.connected("RV-OLD")

        clock.advance(hours=sqlite_pki.ctx.policy.delivery.revoke_superseded_after_hours + 1)
        done = await harness.workers.run_pass()

        assert done.revoked == [old_serial]
        code, reason, took = await _closed_within(station, 1.0)
        assert code == REVOKED_CLOSE and old_serial in reason and "superseded" in reason


def test_the_disconnect_figures_are_policy_and_checked():
    from policies.loader import default_policy_data, parse_policy

    defaults = default_policy_data()
    assert parse_policy({}, defaults).sessions.disconnect_poll_seconds == 1.0
    assert parse_policy({"sessions": {"disconnect_poll_seconds": 2}}, defaults).sessions.disconnect_poll_seconds == 2.0
    for bad in ({"disconnect_poll_seconds": 0.0}, {"disconnect_poll_seconds": 600.0}, {"disconnect_keep_hours": 0}):
        with pytest.raises(ValueError, match=r"\[sessions\]"):
            parse_policy({"sessions": bad}, defaults)
