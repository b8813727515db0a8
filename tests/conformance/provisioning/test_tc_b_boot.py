"""Provisioning cases TC_B_01, TC_B_02, TC_B_30, TC_B_31 (conformance-cases.md §5.1): the
simulated station plays the test tool, the operator acts through the REST API."""

from __future__ import annotations

import asyncio
import time

import pytest
from ocpp_support import NOTIFY_EVENT, csms  # noqa: F401 - fixture

from simulator.station import CallError


async def _booted_station(csms, station_id: str, policy: str | None = None):
    password = csms.add_station(station_id)
    if policy:
        answer = await csms.rest.put(f"/api/v1/stations/{station_id}/boot-policy", json={"status": policy},
                                     headers=csms.headers())
        assert answer.status_code == 200 and answer.json()["boot_policy"] == policy
    station = csms.simulator(station_id, password=password)
    await station.connect()
    await csms.connected(station_id)
    return station


async def test_tc_b_01_cold_boot_accepted(csms):
    station = await _booted_station(csms, "TC-B-01")
    answer = await station.boot("PowerUp")
    assert answer["status"] == "Accepted" and answer["interval"] > 0
    # Reusable state Booted: connector status by StatusNotification and NotifyEvent, both answered.
    assert await station.status_notification(1, 1, "Available") == {}
    assert await station.call("NotifyEvent", NOTIFY_EVENT) == {}


async def test_tc_b_02_pending_then_accepted_after_the_interval(csms):
    station = await _booted_station(csms, "TC-B-02", policy="Pending")
    first = await station.boot("PowerUp")
    assert first["status"] == "Pending"
    interval = first["interval"]
    assert interval == 1  # the gateway's boot retry interval in these tests
    answer = await csms.rest.put("/api/v1/stations/TC-B-02/boot-policy", json={"status": "Accepted"},
                                 headers=csms.headers())
    assert answer.status_code == 200
    started = time.monotonic()
    await asyncio.sleep(interval)  # B02: the station waits `interval` before booting again
    second = await station.boot("PowerUp")
    assert second["status"] == "Accepted" and time.monotonic() - started >= interval
    assert await station.status_notification() == {}


@pytest.mark.parametrize("policy", ["Pending", "Rejected"])
async def test_tc_b_30_messages_while_not_accepted_get_security_error(csms, policy):
    station = await _booted_station(csms, f"TC-B-30-{policy}", policy=policy)
    assert (await station.boot())["status"] == policy
    with pytest.raises(CallError) as status_error:
        await station.status_notification()
    assert status_error.value.code == "SecurityError"
    with pytest.raises(CallError) as event_error:
        await station.call("NotifyEvent", NOTIFY_EVENT)
    assert event_error.value.code == "SecurityError"
    with pytest.raises(CallError) as heartbeat_error:
        await station.heartbeat()
    assert heartbeat_error.value.code == "SecurityError"


async def test_tc_b_30_messages_before_any_boot_get_security_error(csms):
    station = await _booted_station(csms, "TC-B-30-NOBOOT")
    with pytest.raises(CallError) as error:
        await station.status_notification()
    assert error.value.code == "SecurityError"


async def test_tc_b_31_triggered_boot_while_pending_is_accepted(csms):
    station = await _booted_station(csms, "TC-B-31", policy="Pending")
    assert (await station.boot())["status"] == "Pending"
    triggered_boot: asyncio.Future = asyncio.get_running_loop().create_future()

    def trigger_message(st, payload):
        assert payload == {"requestedMessage": "BootNotification"}

        async def boot_after_answer():
            await asyncio.sleep(0)
            triggered_boot.set_result(await st.boot("Triggered"))
        st._spawn(boot_after_answer())
        return {"status": "Accepted"}

    station.handlers["TriggerMessage"] = trigger_message
    # The operator lets the station in, then asks it to boot now rather than after `interval`.
    await csms.rest.put("/api/v1/stations/TC-B-31/boot-policy", json={"status": "Accepted"}, headers=csms.headers())
    answer = await csms.post_call("TC-B-31", "TriggerMessage", {"requestedMessage": "BootNotification"})
    assert answer.status_code == 200 and answer.json()["response"] == {"status": "Accepted"}
    assert (await asyncio.wait_for(triggered_boot, 5))["status"] == "Accepted"
    assert await station.status_notification() == {}


async def test_while_pending_a_triggered_message_is_let_through_once(csms):
    station = await _booted_station(csms, "TC-B-PEND-TRIG", policy="Pending")
    await station.boot()
    triggered: asyncio.Future = asyncio.get_running_loop().create_future()

    def trigger_message(st, payload):
        async def send_status():
            await asyncio.sleep(0)
            triggered.set_result(await st.status_notification())
        st._spawn(send_status())
        return {"status": "Accepted"}

    station.handlers["TriggerMessage"] = trigger_message
    answer = await csms.post_call("TC-B-PEND-TRIG", "TriggerMessage",
                                  {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}})
    assert answer.status_code == 200
    assert await asyncio.wait_for(triggered, 5) == {}
    with pytest.raises(CallError) as error:  # only the one that was asked for
        await station.status_notification()
    assert error.value.code == "SecurityError"


async def test_while_pending_the_reports_the_csms_asked_for_are_let_through(csms):
    station = await _booted_station(csms, "TC-B-PEND-REPORT", policy="Pending")
    await station.boot()
    station.handlers["GetBaseReport"] = lambda st, payload: {"status": "Accepted"}
    answer = await csms.post_call("TC-B-PEND-REPORT", "GetBaseReport",
                                  {"requestId": 7, "reportBase": "ConfigurationInventory"})
    assert answer.json()["response"] == {"status": "Accepted"}
    part = {"requestId": 7, "generatedAt": "2025-01-01T00:00:00Z", "seqNo": 0, "tbc": True}
    assert await station.call("NotifyReport", part) == {}
    assert await station.call("NotifyReport", {**part, "seqNo": 1, "tbc": False}) == {}
    with pytest.raises(CallError) as error:  # the report is complete; another one was not asked for
        await station.call("NotifyReport", {**part, "seqNo": 2})
    assert error.value.code == "SecurityError"


async def test_boot_policy_must_be_a_boot_status(csms):
    csms.add_station("TC-B-POLICY")
    answer = await csms.rest.put("/api/v1/stations/TC-B-POLICY/boot-policy", json={"status": "Maybe"},
                                 headers=csms.headers())
    assert answer.status_code == 422
    answer = await csms.rest.put("/api/v1/stations/TC-B-POLICY/boot-policy", json={"status": "Pending"},
                                 headers=csms.headers("auditor"))
    assert answer.status_code == 403
