"""TC_F_04_CSMS — Remote start, cable plug-in timeout (F01/F02, E03): the station accepts the
remote start with the configured idToken, starts the transaction, and ends it when no cable is
plugged in within EVConnectionTimeOut. The CSMS answers every event; the remote start shows the
transaction it became."""

from __future__ import annotations

from core_support import (
    ID_TOKEN,
    Transactions,
    answer,
    booted_station,
    eventually,
    received,
    remote_start,
    remote_start_row,
)
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_f_04_remote_start_then_the_cable_never_comes(csms):
    station = await booted_station(csms, "TC-F-04")
    transaction = Transactions(station)
    answers = []

    async def start_then_time_out(st, payload):
        answers.append(await transaction.send("Started", "RemoteStart", idToken=payload["idToken"],
                                              info={"remoteStartId": payload["remoteStartId"]}))
        answers.append(await transaction.send("Ended", "EVConnectTimeout",
                                              info={"stoppedReason": "Timeout"}))
    answer(station, "RequestStartTransaction", {"status": "Accepted"}, then=start_then_time_out)

    started = await remote_start(csms, "TC-F-04", evse_id=1)

    assert started.json()["result"]["status"] == "Accepted", started.text
    assert received(station, "RequestStartTransaction")[0]["idToken"] == ID_TOKEN
    row = await remote_start_row(csms, "TC-F-04", "started")
    assert row["transaction_id"] == transaction.transaction_id
    # the Ended event leaves after the Started one was answered: wait for its answer, not for luck

    async def both_answered() -> bool:
        return len(answers) == 2
    await eventually(both_answered)
    assert "idTokenInfo" in answers[0]
