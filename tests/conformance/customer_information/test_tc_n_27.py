"""TC_N_27_CSMS — Get customer information, data available (N09): the officer asks the station
for what it keeps about an idToken (report true, clear false); the station answers Accepted and
reports in two NotifyCustomerInformation parts, each answered; the CSMS keeps them under the
request, complete, readable by an auditor, and audits the request and every read."""

from __future__ import annotations

from core_support import booted_station, eventually, get, received
from customer_support import ID_TOKEN, PERSONAL, REST_ID_TOKEN, customer_information, customer_report
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_n_27_customer_information_reported(csms):
    station = await booted_station(csms, "TC-N-27")
    station.customers.keep(PERSONAL, id_token=ID_TOKEN["idToken"])

    asked = await customer_information(csms, "TC-N-27", report=True, clear=False, id_token=REST_ID_TOKEN)

    assert asked.status_code == 200 and asked.json()["result"]["status"] == "Accepted", asked.text
    request_id = asked.json()["request_id"]
    assert received(station, "CustomerInformation") == [
        {"requestId": request_id, "report": True, "clear": False, "idToken": ID_TOKEN}]
    report = await customer_report(csms, "TC-N-27", request_id)
    assert report["data"] == PERSONAL and report["parts"] == 2 and not report["gap"]
    assert [(p["seq_no"], p["tbc"]) for p in report["part_list"]] == [(0, True), (1, False)]
    assert report["status"] == "Accepted" and report["subject"] == {"report": True, "clear": False,
                                                                    "idToken": ID_TOKEN}
    assert station.customers.records  # a report erases nothing

    async def audited():
        page = await get(csms, "/api/v1/audit?target=TC-N-27", role="officer")
        return {e["action"] for e in page["entries"]} >= {"station.call", "customer_information.read"} and page
    page = await eventually(audited)
    (call,) = [e for e in page["entries"] if e["action"] == "station.call"]
    assert call["detail"]["action"] == "CustomerInformation" and "Jane" not in str(page)
