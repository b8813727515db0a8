"""TC_F_03_CSMS — Remote start first, AuthorizeRemoteStart false (F01): the station starts
the transaction on the CSMS's word; its TransactionEvent Started carries the remoteStartId and
the idToken; the EV is plugged in afterwards."""

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
    report,
)
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_f_03_remote_start_before_the_cable(csms):
    station = await booted_station(csms, "TC-F-03")
    transaction = Transactions(station)
    answers = []

    async def start_then_plug(st, payload):
        answers.append(await transaction.send("Started", "RemoteStart", idToken=payload["idToken"],
                                              info={"remoteStartId": payload["remoteStartId"]}))
        await report(st, 1, 1, "Occupied")
        answers.append(await transaction.send("Updated", "CablePluggedIn", info={"chargingState": "Charging"}))
    answer(station, "RequestStartTransaction", {"status": "Accepted"}, then=start_then_plug)

    started = await remote_start(csms, "TC-F-03", evse_id=1)

    assert started.json()["result"]["status"] == "Accepted", started.text
    (sent,) = received(station, "RequestStartTransaction")
    assert sent["idToken"] == ID_TOKEN and sent["evseId"] == 1
    row = await remote_start_row(csms, "TC-F-03", "started")
    assert row["transaction_id"] == transaction.transaction_id and row["evse_id"] == 1

    async def started_answer():   # the row is committed before the answer reaches the station
        return answers[0] if answers else None
    # The Started event carried the token: its verdict is answered.
    assert "idTokenInfo" in await eventually(started_answer)


async def test_a_rejected_remote_start_is_kept_as_rejected(csms):
    station = await booted_station(csms, "TC-F-03-R")
    answer(station, "RequestStartTransaction", {"status": "Rejected", "statusInfo": {"reasonCode": "Occupied"}})

    started = await remote_start(csms, "TC-F-03-R", evse_id=1)

    assert started.json()["result"]["status"] == "Rejected"
    row = await remote_start_row(csms, "TC-F-03-R", "Rejected")
    assert row["status_reason"] == "Occupied" and row["transaction_id"] is None


async def test_a_charging_profile_that_is_not_a_tx_profile_never_leaves(csms):
    station = await booted_station(csms, "TC-F-03-P")
    profile = {"id": 1, "stack_level": 0, "charging_profile_purpose": "TxDefaultProfile",
               "charging_profile_kind": "Absolute", "charging_schedule": [{
                   "id": 1, "charging_rate_unit": "W", "start_schedule": "2025-01-01T00:00:00Z",
                   "charging_schedule_period": [{"start_period": 0, "limit": 11000}]}]}

    refused = await remote_start(csms, "TC-F-03-P", evse_id=1, charging_profile=profile)

    assert refused.status_code == 422 and refused.json()["rule"] == "call.remote_start.profile_purpose", refused.text
    assert received(station, "RequestStartTransaction") == []
    tx_profile = {**profile, "charging_profile_purpose": "TxProfile"}
    answer(station, "RequestStartTransaction", {"status": "Accepted"})
    sent = await remote_start(csms, "TC-F-03-P", evse_id=1, charging_profile=tx_profile)
    assert sent.status_code == 200, sent.text
    assert received(station, "RequestStartTransaction")[0]["chargingProfile"]["chargingProfilePurpose"] == "TxProfile"


async def test_a_tx_profile_no_station_could_apply_never_leaves_with_a_remote_start(csms):
    """The profile a remote start carries is checked as SetChargingProfile's is (K01)."""
    station = await booted_station(csms, "TC-F-03-K")
    profile = {"id": 1, "stack_level": 0, "charging_profile_purpose": "TxProfile",
               "charging_profile_kind": "Absolute", "charging_schedule": [{
                   "id": 1, "charging_rate_unit": "W", "start_schedule": "2025-01-01T00:00:00Z",
                   "charging_schedule_period": [{"start_period": 600, "limit": 11000},
                                                {"start_period": 0, "limit": 7000}]}]}

    refused = await remote_start(csms, "TC-F-03-K", evse_id=1, charging_profile=profile)

    assert refused.status_code == 422 and refused.json()["rule"].startswith("call.charging_profile."), refused.text
    assert received(station, "RequestStartTransaction") == []


async def test_a_remote_start_id_is_never_used_twice_for_a_station(csms):
    station = await booted_station(csms, "TC-F-03-D")
    answer(station, "RequestStartTransaction", {"status": "Accepted"})
    body = {"id_token": {"id_token": ID_TOKEN["idToken"], "type": ID_TOKEN["type"]}, "remote_start_id": 7}
    first = await csms.rest.post("/api/v1/stations/TC-F-03-D/commands/RequestStartTransaction", json=body,
                                 headers=csms.headers())
    again = await csms.rest.post("/api/v1/stations/TC-F-03-D/commands/RequestStartTransaction", json=body,
                                 headers=csms.headers())
    assert first.status_code == 200, first.text
    assert again.status_code == 409 and again.json()["rule"] == "remote_start.id_taken"
    assert len(received(station, "RequestStartTransaction")) == 1


async def test_a_remote_start_to_a_station_not_connected_says_so(csms):
    station = await booted_station(csms, "TC-F-03-N")
    await station.close()
    await csms.until(lambda: csms.gateway.session("TC-F-03-N") is None)

    refused = await remote_start(csms, "TC-F-03-N", evse_id=1)

    assert refused.status_code == 409 and refused.json()["rule"] == "station.not_connected", refused.text
    row = await remote_start_row(csms, "TC-F-03-N", "not_connected")
    assert row["transaction_id"] is None
