"""TC_F_02_CSMS — Remote start first, AuthorizeRemoteStart true (F02): the station asks
Authorize for the token of the remote start before it starts; the CSMS answers it with an
idTokenInfo (the token's verdict is block C's), and the remote start becomes the transaction
whose events carry its remoteStartId."""

from __future__ import annotations

from core_support import ID_TOKEN, Transactions, answer, booted_station, received, remote_start, remote_start_row
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_f_02_remote_start_with_authorize_remote_start(csms):
    station = await booted_station(csms, "TC-F-02")
    transaction = Transactions(station)
    authorize_answers = []

    async def authorize_then_start(st, payload):
        authorize_answers.append(await st.call("Authorize", {"idToken": payload["idToken"]}))
        await transaction.send("Started", "RemoteStart", idToken=payload["idToken"],
                               info={"remoteStartId": payload["remoteStartId"], "chargingState": "EVConnected"})
    answer(station, "RequestStartTransaction", {"status": "Accepted"}, then=authorize_then_start)

    started = await remote_start(csms, "TC-F-02", evse_id=1)

    assert started.status_code == 200 and started.json()["result"]["status"] == "Accepted", started.text
    (sent,) = received(station, "RequestStartTransaction")
    assert sent["idToken"] == ID_TOKEN and sent["remoteStartId"] == started.json()["remote_start_id"]
    row = await remote_start_row(csms, "TC-F-02", "started")
    assert row["transaction_id"] == transaction.transaction_id
    (authorized,) = authorize_answers
    assert "status" in authorized["idTokenInfo"]
