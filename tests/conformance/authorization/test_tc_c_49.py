"""TC_C_49_CSMS — Stop transactions with a master pass, station without a UI (C16): the station
stops every transaction once the master pass is Accepted with groupIdToken = MasterPassGroupId;
the master-pass group may be the station's own, which wins over the CSMS-wide one."""

from __future__ import annotations

from authorization_support import add_token, booted_station, stop, transaction_event
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_c_49_master_pass_without_ui_stops_everything(csms):
    station = await booted_station(csms, "TC-C-49")
    for body in ({"group_id_token": "CSMS-WIDE"}, {"group_id_token": "SITE-PASS", "station_id": "TC-C-49"}):
        answer = await csms.rest.put("/api/v1/id-tokens/master-pass-groups", json=body,
                                     headers=csms.headers("operator"))
        assert answer.status_code == 200, answer.text
    await add_token(csms, "04MASTER", group_id_token="SITE-PASS", evse_ids=[1])
    for evse, transaction in ((1, "TX-1"), (2, "TX-2")):
        await station.call("TransactionEvent", transaction_event("Started", "CablePluggedIn", 0, transaction,
                                                                 evse_id=evse))

    authorized = await station.call("Authorize", {"idToken": {"idToken": "04MASTER", "type": "ISO14443"}})
    assert authorized["idTokenInfo"]["groupIdToken"] == {"idToken": "SITE-PASS", "type": "Central"}

    for transaction, evse in (("TX-1", 1), ("TX-2", 2)):  # EVSE 2 too: a master pass holds on any EVSE
        info = (await stop(station, transaction, evse))["idTokenInfo"]
        assert info["status"] == "Accepted" and info["groupIdToken"]["idToken"] == "SITE-PASS"
