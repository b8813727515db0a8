"""TC_N_32_CSMS — Clear customer information with a report, the customer named by the hash data
of their certificate (N10; the case table lists TC_N_30/31/32 as "clear with / without report":
this one covers the customerCertificate form). The request carries customerCertificate and no
other identifier; the station reports and erases."""

from __future__ import annotations

from core_support import booted_station, received
from customer_support import CERTIFICATE, customer_information, customer_report
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_n_32_clear_and_report_by_certificate(csms):
    station = await booted_station(csms, "TC-N-32")
    station.customers.keep("contract EMAID DE-ABC-C12345678-9", certificate_serial=CERTIFICATE["serial_number"])

    asked = await customer_information(csms, "TC-N-32", report=True, clear=True, customer_certificate=CERTIFICATE)

    assert asked.json()["result"]["status"] == "Accepted", asked.text
    (request,) = received(station, "CustomerInformation")
    assert request["customerCertificate"] == {"hashAlgorithm": "SHA256", "issuerNameHash": "a" * 64,
                                              "issuerKeyHash": "b" * 64, "serialNumber": "1f2e3d4c"}
    assert "idToken" not in request and "customerIdentifier" not in request
    report = await customer_report(csms, "TC-N-32", asked.json()["request_id"])
    assert report["data"] == "contract EMAID DE-ABC-C12345678-9"
    assert station.customers.records == {}
