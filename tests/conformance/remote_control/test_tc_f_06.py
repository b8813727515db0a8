"""TC_F_06_CSMS — UnlockConnector without a transaction (F05, feature C-11): the operator's
typed command reaches the station with the EVSE and connector it names, and the station's
answer comes back read."""

from __future__ import annotations

from core_support import answer, booted_station, command, received
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_f_06_unlock_connector(csms):
    station = await booted_station(csms, "TC-F-06")
    answer(station, "UnlockConnector", {"status": "Unlocked"})

    unlocked = await command(csms, "TC-F-06", "UnlockConnector", {"evse_id": 1, "connector_id": 1})

    assert unlocked.status_code == 200, unlocked.text
    assert unlocked.json()["result"]["status"] == "Unlocked"
    assert received(station, "UnlockConnector") == [{"evseId": 1, "connectorId": 1}]


async def test_an_auditor_cannot_unlock(csms):
    station = await booted_station(csms, "TC-F-06-A")
    refused = await command(csms, "TC-F-06-A", "UnlockConnector", {"evse_id": 1, "connector_id": 1}, role="auditor")
    assert refused.status_code == 403
    assert received(station, "UnlockConnector") == []


async def test_an_unlock_of_no_real_connector_is_refused_before_it_leaves(csms):
    station = await booted_station(csms, "TC-F-06-Z")
    answer(station, "UnlockConnector", {"status": "Unlocked"})
    refused = await command(csms, "TC-F-06-Z", "UnlockConnector", {"evse_id": 0, "connector_id": 1})
    assert refused.status_code == 422 and refused.json()["rule"] == "call.unlock.connector", refused.text
    assert received(station, "UnlockConnector") == []
