"""TC_N_30_CSMS — Clear customer information with a report (N10): clear true and report true by
idToken; the station reports what it kept, then erases it; the CSMS keeps the report, complete."""

from __future__ import annotations

from core_support import booted_station, received
from customer_support import ID_TOKEN, PERSONAL, REST_ID_TOKEN, customer_information, customer_report
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_n_30_clear_and_report(csms):
    station = await booted_station(csms, "TC-N-30")
    station.customers.keep(PERSONAL, id_token=ID_TOKEN["idToken"])

    asked = await customer_information(csms, "TC-N-30", report=True, clear=True, id_token=REST_ID_TOKEN)

    assert asked.json()["result"]["status"] == "Accepted", asked.text
    (request,) = received(station, "CustomerInformation")
    assert (request["report"], request["clear"], request["idToken"]) == (True, True, ID_TOKEN)
    report = await customer_report(csms, "TC-N-30", asked.json()["request_id"])
    assert report["data"] == PERSONAL and report["subject"]["clear"] is True
    assert station.customers.records == {} and station.customers.cleared == [f"idToken:{ID_TOKEN['idToken']}"]
