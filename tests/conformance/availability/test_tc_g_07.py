"""TC_G_07_CSMS — ChangeAvailability of a connector to Inoperative (G03-G05): the operator's request
names evse.id 1 and evse.connectorId 1 and operationalStatus Inoperative; the station
answers Accepted, which the CSMS keeps with the request, and reports the new connector status, which the CSMS keeps too."""

from __future__ import annotations

from core_support import (
    booted_station,
    change_availability,
    eventually,
    latest_change,
    received,
    report,
    states,
)
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_g_07_change_availability(csms):
    station = await booted_station(csms, "TC-G-07")

    async def reports(st, _payload):
        await report(st, 1, 1, "Unavailable")

    sent = await change_availability(csms, station, "Inoperative", {"id": 1, "connector_id": 1},
                                     status="Accepted", then=reports)

    assert sent.status_code == 200 and sent.json()["result"]["status"] == "Accepted", sent.text
    (request,) = received(station, "ChangeAvailability")
    assert request == {"operationalStatus": "Inoperative", "evse": {"id": 1, "connectorId": 1}}
    change = await latest_change(csms, "TC-G-07")
    assert change["answer"] == "Accepted" and change["operational_status"] == "Inoperative"
    assert (change["evse_id"], change["connector_id"]) == (1, 1)

    async def reported():
        return (await states(csms, "TC-G-07")).get((1, 1)) == "Unavailable"
    await eventually(reported)
