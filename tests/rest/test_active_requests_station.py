"""A REST request waiting for a station's answer holds no turn of ``[rest] max_active_requests``
(api/ocpp/gateway.py ``send_call``): one slow station holds up no officer."""

from __future__ import annotations

import asyncio

from certificate_support import with_policy
from ocpp_support import open_csms


async def test_an_operator_waiting_for_a_slow_station_holds_up_no_other_request(sqlite_pki):
    # One turn only: the request waiting for the station must give it up for the audit read.
    pki = with_policy(sqlite_pki, rest={"max_active_requests": 1})
    async for csms in open_csms(pki):
        password = csms.add_station("CS-SLOW")
        station = await csms.connect_raw("CS-SLOW", password)
        await station.boot()
        station.answers["ClearCache"] = lambda _payload: None   # answered by hand, later
        waiting = asyncio.create_task(csms.post_call("CS-SLOW", "ClearCache", {}, timeout=10))
        asked = await station.next_call()

        audit = await asyncio.wait_for(csms.rest.get("/api/v1/audit", headers=csms.headers("auditor")), 3)

        assert audit.status_code == 200
        assert not waiting.done()
        await station.reply(asked.message_id, {"status": "Accepted"})
        answered = await asyncio.wait_for(waiting, 5)
        assert answered.status_code == 200, answered.text
        assert answered.json()["response"] == {"status": "Accepted"}
