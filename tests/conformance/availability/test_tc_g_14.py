"""TC_G_14_CSMS — ChangeAvailability of the whole station while a transaction runs (G03-G05): the operator's request
carries no `evse` and operationalStatus Inoperative; the station
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


async def test_tc_g_14_change_availability(csms):
    station = await booted_station(csms, "TC-G-14")
    await report(station, 1, 1, "Occupied")
    transaction = Transactions(station)
    await transaction.send("Started", "CablePluggedIn", info={"chargingState": "Charging"})

    async def reports(st, _payload):
        await report(st, 1, 1, "Occupied")

    sent = await change_availability(csms, station, "Inoperative", None,
                                     status="Scheduled", then=reports)

    assert sent.status_code == 200 and sent.json()["result"]["status"] == "Scheduled", sent.text
    (request,) = received(station, "ChangeAvailability")
    assert request == {"operationalStatus": "Inoperative"}
    change = await latest_change(csms, "TC-G-14")
    assert change["answer"] == "Scheduled" and change["operational_status"] == "Inoperative"
    assert (change["evse_id"], change["connector_id"]) == (None, None)

    async def reported():
        return (await states(csms, "TC-G-14")).get((1, 1)) == "Occupied"
    await eventually(reported)
