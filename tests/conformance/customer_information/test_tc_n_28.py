"""TC_N_28_CSMS — Get customer information, no data (N09): the station keeps nothing about the
idToken; it answers Accepted and sends one NotifyCustomerInformation with empty data, which the
CSMS answers and keeps as a complete, empty report."""

from __future__ import annotations

from core_support import booted_station, received
from customer_support import REST_ID_TOKEN, customer_information, customer_report
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_n_28_customer_information_without_data(csms):
    station = await booted_station(csms, "TC-N-28")

    asked = await customer_information(csms, "TC-N-28", report=True, clear=False, id_token=REST_ID_TOKEN)

    assert asked.json()["result"]["status"] == "Accepted", asked.text
    (request,) = received(station, "CustomerInformation")
    assert (request["report"], request["clear"]) == (True, False)
    report = await customer_report(csms, "TC-N-28", asked.json()["request_id"])
    assert (report["data"], report["parts"], report["complete"]) == ("", 1, True)
