"""TC_M_18_CSMS — Get installed certificate ids of every type: certificateType is omitted.
Everything reported is stored, a V2G chain's sub-CAs as children of its leaf (M03.FR.05)."""

from __future__ import annotations

from ocpp_support import tls_csms  # noqa: F401 - fixture
from pki_fixtures import make_leaf, make_root, make_sub_ca
from trust_anchor_support import CSMS_ROOT, MANUFACTURER_ROOT, booted, csms_root, record_answers, refresh, requests


async def test_tc_m_18_all_installed_certificate_ids(tls_csms):
    station = await booted(tls_csms, "TC-M-18")
    v2g_root = make_root("ec", serial=0x1818)
    sub_1 = make_sub_ca(v2g_root, "ec", serial=0x1819)
    sub_2 = make_sub_ca(sub_1, "p384", serial=0x181A)
    secc = make_leaf(sub_2, "ec", serial=0x181B)
    station.certificates.add(CSMS_ROOT, csms_root(tls_csms))
    station.certificates.add(MANUFACTURER_ROOT, make_root("rsa", serial=0x1817).certificate)
    station.certificates.add("V2GCertificateChain", secc.certificate, sub_2.certificate,
                             children=[(sub_2.certificate, sub_1.certificate),
                                       (sub_1.certificate, v2g_root.certificate)])
    answers = record_answers(station, "GetInstalledCertificateIds")

    answer = await refresh(tls_csms, "TC-M-18")

    assert answer.status_code == 200, answer.text
    assert requests(station, "GetInstalledCertificateIds") == [{}]  # certificateType omitted
    assert answer.json()["refresh"]["types"] is None
    stored = answer.json()["inventory"]["certificates"]
    reported = answers[0]["certificateHashDataChain"]
    as_reported = [(c["certificateType"], c["certificateHashData"]["serialNumber"]) for c in reported]
    assert [(s["certificate_type"], s["serial_number"]) for s in stored if s["parent_id"] is None] == as_reported
    leaf = next(s for s in stored if s["serial_number"] == "181b")
    children = [s for s in stored if s["parent_id"] == leaf["id"]]
    assert [c["serial_number"] for c in children] == ["181a", "1819"]
    assert all(c["certificate_type"] == "V2GCertificateChain" for c in children)
    ours = next(s for s in stored if s["certificate_type"] == CSMS_ROOT)
    assert ours["csms_generation"] == 1
