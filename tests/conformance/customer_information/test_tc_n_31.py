"""TC_N_31_CSMS — Clear customer information without a report (N10): clear true, report false;
the station answers Accepted and erases the data; no report follows, and the CSMS keeps the
request answered with no parts (nothing missing: none was asked for)."""

from __future__ import annotations

import asyncio

from core_support import booted_station, get, received
from customer_support import ID_TOKEN, REST_ID_TOKEN, customer_information
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_n_31_clear_without_report(csms):
    station = await booted_station(csms, "TC-N-31")
    station.customers.keep("Jane Doe", id_token=ID_TOKEN["idToken"])

    asked = await customer_information(csms, "TC-N-31", report=False, clear=True, id_token=REST_ID_TOKEN)

    assert asked.json()["result"]["status"] == "Accepted", asked.text
    (request,) = received(station, "CustomerInformation")
    assert (request["report"], request["clear"]) == (False, True)
    assert station.customers.records == {}
    await asyncio.sleep(0.2)  # a report, had the station sent one, would be in by now
    (row,) = await get(csms, "/api/v1/stations/TC-N-31/customer-information")
    assert (row["status"], row["parts"], row["subject"]) == ("Accepted", 0, {"report": False, "clear": True,
                                                                            "idToken": ID_TOKEN})
