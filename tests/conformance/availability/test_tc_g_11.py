"""TC_G_11_CSMS — ChangeAvailability of an EVSE while a transaction runs (G03-G05): the operator's request
names evse.id 1 (no connectorId) and operationalStatus Inoperative; the station
answers Scheduled (a transaction runs: the change waits for its end), which the CSMS keeps with the request,
and reports the new connector status, which the CSMS keeps too."""

from __future__ import annotations

from core_support import (
    Transactions,
    booted_station,
    change_availability,
    eventually,
    latest_change,
    received,
    report,
    states,
)
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_g_11_change_availability(csms):
    station = await booted_station(csms, "TC-G-11")
    await report(station, 1, 1, "Occupied")
    transaction = Transactions(station)
    await transaction.send("Started", "CablePluggedIn", info={"chargingState": "Charging"})

    async def reports(st, _payload):
        await report(st, 1, 1, "Occupied")

    sent = await change_availability(csms, station, "Inoperative", {"id": 1},
                                     status="Scheduled", then=reports)

    assert sent.status_code == 200 and sent.json()["result"]["status"] == "Scheduled", sent.text
    (request,) = received(station, "ChangeAvailability")
    assert request == {"operationalStatus": "Inoperative", "evse": {"id": 1}}
    change = await latest_change(csms, "TC-G-11")
    assert change["answer"] == "Scheduled" and change["operational_status"] == "Inoperative"
    assert (change["evse_id"], change["connector_id"]) == (1, None)

    async def reported():
        return (await states(csms, "TC-G-11")).get((1, 1)) == "Occupied"
    await eventually(reported)
