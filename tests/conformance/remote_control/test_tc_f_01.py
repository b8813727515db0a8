"""TC_F_01_CSMS — Remote start, cable plugged in first (F01): the EV is connected and the
transaction started; the operator starts it remotely. The CSMS sends RequestStartTransaction
with the configured idToken and a remoteStartId of its own; the station's TransactionEvent
carrying that id ties the remote start to the transaction, which the operator can see."""

from __future__ import annotations

from core_support import ID_TOKEN, Transactions, answer, booted_station, eventually, get, received, report
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_f_01_remote_start_after_the_cable_is_plugged_in(csms):
    station = await booted_station(csms, "TC-F-01")
    await report(station, 1, 1, "Occupied")
    transaction = Transactions(station)
    await transaction.send("Started", "CablePluggedIn", info={"chargingState": "EVConnected"})

    async def authorized(st, payload):
        await transaction.send("Updated", "RemoteStart", idToken=payload["idToken"],
                               info={"remoteStartId": payload["remoteStartId"], "chargingState": "Charging"})
    answer(station, "RequestStartTransaction", {"status": "Accepted"}, then=authorized)

    started = await csms.rest.post("/api/v1/stations/TC-F-01/remote-starts",
                                   json={"id_token": {"id_token": ID_TOKEN["idToken"], "type": ID_TOKEN["type"]},
                                         "evse_id": 1}, headers=csms.headers())

    assert started.status_code == 200, started.text
    assert started.json()["result"]["status"] == "Accepted"
    (sent,) = received(station, "RequestStartTransaction")
    assert sent["idToken"] == ID_TOKEN and sent["evseId"] == 1
    assert sent["remoteStartId"] == started.json()["remote_start_id"]

    async def became_a_transaction():
        rows = await get(csms, "/api/v1/stations/TC-F-01/remote-starts")
        return rows if rows and rows[0]["status"] == "started" else None
    (row,) = await eventually(became_a_transaction)
    assert row["transaction_id"] == transaction.transaction_id
    assert row["id_token"] == ID_TOKEN["idToken"] and row["remote_start_id"] == sent["remoteStartId"]
