"""TC_N_62_CSMS — Clear customer information by customerIdentifier (N10, feature C-14): the
request names the customer by customerIdentifier only; the station reports and erases."""

from __future__ import annotations

from core_support import booted_station, received
from customer_support import customer_information, customer_report
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_n_62_clear_by_customer_identifier(csms):
    station = await booted_station(csms, "TC-N-62")
    station.customers.keep("customer 0815: 3 sessions", customer_identifier="0815")

    asked = await customer_information(csms, "TC-N-62", report=True, clear=True, customer_identifier="0815")

    assert asked.json()["result"]["status"] == "Accepted", asked.text
    (request,) = received(station, "CustomerInformation")
    assert request["customerIdentifier"] == "0815" and {"idToken", "customerCertificate"}.isdisjoint(request)
    report = await customer_report(csms, "TC-N-62", asked.json()["request_id"])
    assert report["data"] == "customer 0815: 3 sessions"
    assert station.customers.records == {}
