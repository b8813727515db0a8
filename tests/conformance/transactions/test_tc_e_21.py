"""TC_E_21 — Stop transaction options: StopAuthorized, remote (E06 S3, F03).

From EnergyTransferStarted the operator asks the CSMS to stop the transaction (REST, typed
command RequestStopTransaction): the request carries the transactionId the station reported;
the station answers Accepted and sends Ended with triggerReason RemoteStop, stoppedReason
Remote. Stored: ended Remote, and the audit records who asked.
"""

from __future__ import annotations

import asyncio
import json

from charging_support import charging_for, session_started, stored
from ocpp_support import csms  # noqa: F401 - fixture
from trust_anchor_support import audit, requests


async def test_tc_e_21_remote_stop_with_the_reported_transaction_id(csms):
    charging = await session_started(csms, "TC-E-21")
    await charging_for(charging, 5, 800)
    ended: asyncio.Future = asyncio.get_running_loop().create_future()

    def request_stop(station, payload):
        async def end():
            ended.set_result(await charging.stop("RemoteStop", "Remote", meter=[charging.meter_value("Transaction.End")]))
        station.after_reply(end)
        return {"status": "Accepted"}

    charging.station.handlers["RequestStopTransaction"] = request_stop
    answer = await csms.rest.post("/api/v1/stations/TC-E-21/commands/RequestStopTransaction",
                                  json={"transaction_id": charging.transaction_id}, headers=csms.headers("operator"))

    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["status"] == "Accepted"
    assert requests(charging.station, "RequestStopTransaction") == [{"transactionId": charging.transaction_id}]
    assert await asyncio.wait_for(ended, 5) == {}
    row, _, _ = await stored(csms, "TC-E-21", charging.transaction_id)
    assert (row.stop_trigger, row.stopped_reason, row.energy_wh) == ("RemoteStop", "Remote", 800)
    assert json.loads(audit(csms, "station.call", "TC-E-21")[-1].detail)["action"] == "RequestStopTransaction"
