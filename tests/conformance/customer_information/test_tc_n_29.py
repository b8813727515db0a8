"""TC_N_29_CSMS — Get customer information, request not accepted (N09): the station answers
Rejected (or Invalid); the CSMS keeps that answer with the request, expects no report, and the
connection carries on."""

from __future__ import annotations

import pytest
from core_support import booted_station, get
from customer_support import ID_TOKEN, REST_ID_TOKEN, customer_information
from ocpp_support import csms  # noqa: F401 - fixture


@pytest.mark.parametrize("answer", ["Rejected", "Invalid"])
async def test_tc_n_29_customer_information_not_accepted(csms, answer):
    case = f"TC-N-29-{answer}"
    station = await booted_station(csms, case)
    station.customers.keep("Jane Doe", id_token=ID_TOKEN["idToken"])
    station.customers.answer = answer

    asked = await customer_information(csms, case, report=True, clear=False, id_token=REST_ID_TOKEN)

    assert asked.status_code == 200 and asked.json()["result"]["status"] == answer, asked.text
    (row,) = await get(csms, f"/api/v1/stations/{case}/customer-information")
    assert (row["status"], row["parts"], row["complete"]) == (answer, 0, False)
    assert row["answered_at"] is not None
    assert (await station.heartbeat())["currentTime"]
