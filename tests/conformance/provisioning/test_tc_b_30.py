"""TC_B_30_CSMS — Messages while Pending or Rejected (B02.FR.09, B03.FR.07): anything but a
BootNotification is answered CALLERROR SecurityError; so is a message before any boot. While
Pending, what the CSMS itself asked for passes (a triggered message once, the reports asked)."""

from __future__ import annotations

import asyncio

import pytest
from ocpp_support import NOTIFY_EVENT, csms  # noqa: F401 - fixture
from provisioning_support import booted_with_policy

from simulator.station import CallError


@pytest.mark.parametrize("policy", ["Pending", "Rejected"])
async def test_tc_b_30_messages_while_not_accepted_get_security_error(csms, policy):
    station = await booted_with_policy(csms, f"TC-B-30-{policy}", policy=policy)
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
    station = await booted_with_policy(csms, "TC-B-30-NOBOOT")
    with pytest.raises(CallError) as error:
        await station.status_notification()
    assert error.value.code == "SecurityError"


async def test_while_pending_a_triggered_message_is_let_through_once(csms):
    station = await booted_with_policy(csms, "TC-B-PEND-TRIG", policy="Pending")
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
    station = await booted_with_policy(csms, "TC-B-PEND-REPORT", policy="Pending")
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
