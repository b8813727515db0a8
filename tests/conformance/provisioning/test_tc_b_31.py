"""TC_B_31_CSMS — TriggerMessage BootNotification while Pending: the triggered boot is Accepted."""

from __future__ import annotations

import asyncio

from ocpp_support import csms  # noqa: F401 - fixture
from provisioning_support import booted_with_policy


async def test_tc_b_31_triggered_boot_while_pending_is_accepted(csms):
    station = await booted_with_policy(csms, "TC-B-31", policy="Pending")
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
