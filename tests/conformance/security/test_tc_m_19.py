"""TC_M_19_CSMS — Get installed certificate ids for ManufacturerRootCertificate, the station
answers NotFound without a chain (M03.FR.01, M03.FR.02): the CSMS handles it and its inventory
of that type is empty afterwards; other types stay as they were."""

from __future__ import annotations

from ocpp_support import tls_csms  # noqa: F401 - fixture
from pki_fixtures import make_root
from trust_anchor_support import CSMS_ROOT, MANUFACTURER_ROOT, booted, csms_root, refresh, requests


async def test_tc_m_19_not_found_clears_that_type(tls_csms):
    station = await booted(tls_csms, "TC-M-19")
    station.certificates.add(CSMS_ROOT, csms_root(tls_csms))
    manufacturer = station.certificates.add(MANUFACTURER_ROOT, make_root("ec", serial=0x1919).certificate)
    first = await refresh(tls_csms, "TC-M-19")
    assert {c["certificate_type"] for c in first.json()["inventory"]["certificates"]} == {CSMS_ROOT, MANUFACTURER_ROOT}

    station.certificates.installed.remove(manufacturer)
    answer = await refresh(tls_csms, "TC-M-19", [MANUFACTURER_ROOT])

    assert answer.status_code == 200, answer.text
    assert requests(station, "GetInstalledCertificateIds")[-1] == {"certificateType": [MANUFACTURER_ROOT]}
    assert answer.json()["refresh"]["status"] == "NotFound"
    assert [c["certificate_type"] for c in answer.json()["inventory"]["certificates"]] == [CSMS_ROOT]
    csms_entry = first.json()["inventory"]["certificates"][0]
    assert answer.json()["inventory"]["certificates"][0]["id"] == csms_entry["id"]
