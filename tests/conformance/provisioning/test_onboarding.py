"""Onboarding as a policy (B01-B03 with B07, B05): first boot Pending, FullInventory asked and
kept, the baseline set within the station's own limits (a station whose HeartbeatInterval may
only be 1-10 s gets 10), TriggerMessage BootNotification, then Accepted with an interval the
station can take. Off by default (the other cases boot Accepted)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

from ocpp_support import csms as csms_default  # noqa: F401 - fixture
from ocpp_support import open_csms
from provisioning_support import eventually, get, received

from api.csms.provisioning import onboarding as onboarding_module
from policies.model import OnboardingPolicy


@contextlib.asynccontextmanager
async def onboarding_csms(sqlite_pki):
    """The CSMS with the [onboarding] policy on."""
    policy = dataclasses.replace(sqlite_pki.ctx.policy, onboarding=OnboardingPolicy(enabled=True))
    pki = dataclasses.replace(sqlite_pki, ctx=dataclasses.replace(sqlite_pki.ctx, policy=policy))
    running = open_csms(pki)
    try:
        yield await anext(running)
    finally:
        await running.aclose()


async def test_first_boot_pending_inventory_baseline_then_accepted(sqlite_pki):
    async with onboarding_csms(sqlite_pki) as csms:
        password = csms.add_station("ONBOARD-1")
        station = csms.simulator("ONBOARD-1", password=password)
        station.device_model.define("OCPPCommCtrlr", "HeartbeatInterval", 5, data_type="integer",
                                    min_limit=1, max_limit=10)
        station.device_model.define("ClockCtrlr", "TimeSource", "NTP", data_type="SequenceList",
                                    values_list="Heartbeat,NTP", mutability="ReadOnly")
        triggered = asyncio.Event()
        default_trigger = station.handlers["TriggerMessage"]

        def trigger(st, payload):
            triggered.set()
            return default_trigger(st, payload)
        station.handlers["TriggerMessage"] = trigger
        await station.connect()

        first = await station.boot()
        assert first["status"] == "Pending"

        await asyncio.wait_for(triggered.wait(), 10)
        (report,) = received(station, "GetBaseReport")
        assert report["reportBase"] == "FullInventory"
        (written,) = received(station, "SetVariables")
        values = {(e["component"]["name"], e["variable"]["name"]): e["attributeValue"]
                  for e in written["setVariableData"]}
        # Clamped within the station's own 1-10 s; the ReadOnly TimeSource left alone.
        assert values == {("OCPPCommCtrlr", "HeartbeatInterval"): "10", ("OCPPCommCtrlr", "OfflineThreshold"): "600"}

        async def accepted():
            return station.device_model.value("OCPPCommCtrlr", "HeartbeatInterval") == "10" and \
                csms.gateway.session("ONBOARD-1").boot.accepted
        await eventually(accepted, 10)
        onboarding = await get(csms, "/api/v1/stations/ONBOARD-1/onboarding")
        assert onboarding["state"] == "done"
        assert onboarding["detail"]["variables"]["ClockCtrlr.TimeSource"]["status"] == "skipped"
        again = await station.boot()
        # The boot interval within the limits the station reported for HeartbeatInterval.
        assert again["status"] == "Accepted" and again["interval"] == 10

async def test_off_by_default_the_first_boot_is_accepted_with_the_interval_clamped(csms_default):
    csms = csms_default
    password = csms.add_station("ONBOARD-OFF")
    station = csms.simulator("ONBOARD-OFF", password=password)
    station.device_model.define("OCPPCommCtrlr", "HeartbeatInterval", 5, data_type="integer", min_limit=1,
                                max_limit=10)
    await station.connect()
    assert (await station.boot())["status"] == "Accepted"
    answer = await csms.rest.post("/api/v1/stations/ONBOARD-OFF/commands/GetBaseReport",
                                  json={"request_id": 3, "report_base": "FullInventory"}, headers=csms.headers())
    assert answer.status_code == 200

    async def complete():
        rows = await get(csms, "/api/v1/stations/ONBOARD-OFF/device-reports")
        return rows and rows[0]["status"] == "complete"
    await eventually(complete)
    assert (await station.boot())["interval"] == 10   # 300 configured, the station takes at most 10
    assert (await csms.rest.get("/api/v1/stations/ONBOARD-OFF/onboarding", headers=csms.headers())).status_code == 404


async def test_a_station_that_cannot_report_stays_pending_with_the_reason(sqlite_pki):
    async with onboarding_csms(sqlite_pki) as csms:
        password = csms.add_station("ONBOARD-FAIL")
        station = csms.simulator("ONBOARD-FAIL", password=password)
        station.handlers["GetBaseReport"] = lambda st, payload: {"status": "NotSupported"}
        await station.connect()
        assert (await station.boot())["status"] == "Pending"

        async def failed():
            answer = await csms.rest.get("/api/v1/stations/ONBOARD-FAIL/onboarding", headers=csms.headers())
            return answer.status_code == 200 and answer.json()["state"] == "failed" and answer.json()
        onboarding = await eventually(failed, 10)
        assert "NotSupported" in onboarding["detail"]["error"]
        assert received(station, "SetVariables") == []
        assert (await station.boot())["status"] == "Pending"   # not let in without its onboarding


async def test_an_answer_about_variables_never_asked_is_ignored(sqlite_pki):
    """Schema-valid, absurd: the SetVariables answer also names a variable the baseline did not
    write. It was a KeyError: onboarding failed with a traceback, its detail no JSON, and
    GET …/onboarding a 500."""
    async with onboarding_csms(sqlite_pki) as csms:
        password = csms.add_station("ONBOARD-ODD")
        station = csms.simulator("ONBOARD-ODD", password=password)
        default_set = station.handlers["SetVariables"]

        def set_and_more(st, payload):
            answer = default_set(st, payload)
            answer["setVariableResult"].append({"attributeStatus": "Accepted", "component": {"name": "Rogue"},
                                                "variable": {"name": "Unasked"}})
            return answer
        station.handlers["SetVariables"] = set_and_more
        await station.connect()
        assert (await station.boot())["status"] == "Pending"

        async def ended():
            answer = await csms.rest.get("/api/v1/stations/ONBOARD-ODD/onboarding", headers=csms.headers())
            return answer.status_code != 200 or answer.json()["state"] in ("done", "failed")
        await eventually(ended, 10)
        onboarding = await get(csms, "/api/v1/stations/ONBOARD-ODD/onboarding")
        assert onboarding["state"] == "done", onboarding
        assert "Rogue.Unasked" not in onboarding["detail"]["variables"]
        assert onboarding["detail"]["variables"]["OCPPCommCtrlr.OfflineThreshold"]["status"] == "Accepted"


async def test_the_detail_of_a_long_baseline_or_an_unforeseen_failure_stays_readable(sqlite_pki, monkeypatch):
    """The detail was cut at the column's 4000 characters, JSON and all: a baseline of some fifty
    variables, or a failure's text, made GET …/onboarding a 500."""
    baseline = tuple(f"VendorCtrlr.Setting{i:03}=1" for i in range(60))
    policy = dataclasses.replace(sqlite_pki.ctx.policy, onboarding=OnboardingPolicy(enabled=True, baseline=baseline))
    pki = dataclasses.replace(sqlite_pki, ctx=dataclasses.replace(sqlite_pki.ctx, policy=policy))
    running = open_csms(pki)
    csms = await anext(running)
    try:
        password = csms.add_station("ONBOARD-LONG")
        station = csms.simulator("ONBOARD-LONG", password=password)
        for i in range(60):
            station.device_model.define("VendorCtrlr", f"Setting{i:03}", 0, data_type="integer")
        await station.connect()
        assert (await station.boot())["status"] == "Pending"

        async def ended(station_id):
            answer = await csms.rest.get(f"/api/v1/stations/{station_id}/onboarding", headers=csms.headers())
            return answer.status_code != 200 or answer.json()["state"] in ("done", "failed")
        await eventually(lambda: ended("ONBOARD-LONG"), 10)
        onboarding = await get(csms, "/api/v1/stations/ONBOARD-LONG/onboarding")
        assert (onboarding["state"], onboarding["detail"]["report"]) == ("done", "complete"), onboarding

        def broken(*_args):
            raise RuntimeError("unforeseen: " + "x" * 5000)
        monkeypatch.setattr(onboarding_module, "_baseline_entries", broken)
        password = csms.add_station("ONBOARD-BROKEN")
        other = csms.simulator("ONBOARD-BROKEN", password=password)
        await other.connect()
        assert (await other.boot())["status"] == "Pending"
        await eventually(lambda: ended("ONBOARD-BROKEN"), 10)
        onboarding = await get(csms, "/api/v1/stations/ONBOARD-BROKEN/onboarding")
        assert onboarding["state"] == "failed" and onboarding["detail"]["error"].startswith("unforeseen: x")
    finally:
        await running.aclose()
