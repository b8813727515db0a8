"""N09/N10 — what is refused before a CustomerInformation leaves, on every door: no identifier or
more than one (N09.FR.09), nothing asked (report and clear false), an operator's request
(personal data is an officer's), a requestId already used; an operator cannot read the data."""

from __future__ import annotations

from core_support import booted_station, command, received
from customer_support import CERTIFICATE, REST_ID_TOKEN, customer_information, customer_report
from ocpp_support import csms  # noqa: F401 - fixture


async def test_a_request_naming_no_single_customer_is_refused(csms):
    station = await booted_station(csms, "N09-R")
    two = await customer_information(csms, "N09-R", report=True, clear=False, id_token=REST_ID_TOKEN,
                                     customer_certificate=CERTIFICATE)
    none = await customer_information(csms, "N09-R", report=True, clear=False)
    nothing = await customer_information(csms, "N09-R", report=False, clear=False, customer_identifier="0815")
    raw = await csms.post_call("N09-R", "CustomerInformation", {"requestId": 1, "report": True, "clear": False},
                               role="officer")

    assert two.status_code == 422 and two.json()["rule"] == "call.customer_information.identifier", two.text
    assert none.json()["rule"] == "call.customer_information.identifier"
    assert nothing.status_code == 422 and nothing.json()["rule"] == "call.customer_information.nothing"
    assert raw.status_code == 422 and raw.json()["rule"] == "call.customer_information.identifier", raw.text
    assert received(station, "CustomerInformation") == []


async def test_customer_information_is_an_officers_and_its_data_an_auditors(csms):
    station = await booted_station(csms, "N09-ROLE")
    typed = await command(csms, "N09-ROLE", "CustomerInformation",
                          {"request_id": 5, "report": True, "clear": False, "customer_identifier": "0815"})
    assert typed.status_code == 403 and typed.json()["rule"] == "call.role", typed.text
    read = await csms.rest.get("/api/v1/stations/N09-ROLE/customer-information", headers=csms.headers("operator"))
    assert read.status_code == 403
    assert received(station, "CustomerInformation") == []


async def test_a_request_id_used_before_is_refused(csms):
    station = await booted_station(csms, "N09-ID")
    body = {"request_id": 7, "report": True, "clear": False, "customer_identifier": "0815"}
    first = await command(csms, "N09-ID", "CustomerInformation", body, role="officer")
    again = await command(csms, "N09-ID", "CustomerInformation", body, role="officer")
    assert first.status_code == 200, first.text
    assert again.status_code == 409 and again.json()["rule"] == "report.request_id_taken", again.text
    assert len(received(station, "CustomerInformation")) == 1


async def test_the_raw_call_door_keeps_the_request_and_its_report_too(csms):
    station = await booted_station(csms, "N09-RAW")
    station.customers.keep("Jane Doe", customer_identifier="0815")
    raw = await csms.post_call("N09-RAW", "CustomerInformation", {"requestId": 11, "report": True, "clear": False,
                                                                  "customerIdentifier": "0815"}, role="officer")
    assert raw.status_code == 200, raw.text
    report = await customer_report(csms, "N09-RAW", 11)
    assert (report["status"], report["data"], report["requested_by"].startswith("token:")) == (
        "Accepted", "Jane Doe", True)
