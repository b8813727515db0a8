"""TC_G_06_CSMS — ChangeAvailability of the whole station to Operative (G03-G05): the operator's request
carries no `evse` and operationalStatus Operative; the station
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


async def test_tc_g_06_change_availability(csms):
    station = await booted_station(csms, "TC-G-06")
    await report(station, 1, 1, "Unavailable")

    async def reports(st, _payload):
        await report(st, 1, 1, "Available")

    sent = await change_availability(csms, station, "Operative", None,
                                     status="Accepted", then=reports)

    assert sent.status_code == 200 and sent.json()["result"]["status"] == "Accepted", sent.text
    (request,) = received(station, "ChangeAvailability")
    assert request == {"operationalStatus": "Operative"}
    change = await latest_change(csms, "TC-G-06")
    assert change["answer"] == "Accepted" and change["operational_status"] == "Operative"
    assert (change["evse_id"], change["connector_id"]) == (None, None)

    async def reported():
        return (await states(csms, "TC-G-06")).get((1, 1)) == "Available"
    await eventually(reported)
