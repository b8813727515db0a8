"""TC_M_13_CSMS — Get installed certificate ids for ManufacturerRootCertificate (M03.FR.01),
reusable state GetInstalledCertificates: the request names that type; the hash data the station
returns is stored exactly as returned."""

from __future__ import annotations

from ocpp_support import tls_csms  # noqa: F401 - fixture
from pki_fixtures import make_root
from trust_anchor_support import MANUFACTURER_ROOT, booted, record_answers, refresh, requests


async def test_tc_m_13_installed_manufacturer_root_ids(tls_csms):
    station = await booted(tls_csms, "TC-M-13", hash_algorithm="SHA384")
    station.certificates.add(MANUFACTURER_ROOT, make_root("ec", serial=0x0A13).certificate)
    answers = record_answers(station, "GetInstalledCertificateIds")

    answer = await refresh(tls_csms, "TC-M-13", [MANUFACTURER_ROOT])

    assert answer.status_code == 200, answer.text
    assert requests(station, "GetInstalledCertificateIds") == [{"certificateType": [MANUFACTURER_ROOT]}]
    assert answer.json()["refresh"]["status"] == "Accepted"
    (reported,) = answers[0]["certificateHashDataChain"]
    (stored,) = answer.json()["inventory"]["certificates"]
    assert stored["certificate_type"] == reported["certificateType"] == MANUFACTURER_ROOT
    data = reported["certificateHashData"]
    assert (stored["hash_algorithm"], stored["issuer_name_hash"], stored["issuer_key_hash"],
            stored["serial_number"]) == (data["hashAlgorithm"], data["issuerNameHash"], data["issuerKeyHash"],
                                         data["serialNumber"])
    assert data["hashAlgorithm"] == "SHA384" and len(data["issuerNameHash"]) == 96
