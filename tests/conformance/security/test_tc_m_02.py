"""TC_M_02_CSMS — Install CA certificate: manufacturer root (CertificateInstalled for
ManufacturerRootCertificate): the certificate sent is exactly the one the officer configured."""

from __future__ import annotations

from ocpp_support import tls_csms  # noqa: F401 - fixture
from pki_fixtures import make_root
from trust_anchor_support import MANUFACTURER_ROOT, booted, install, pem, requests


async def test_tc_m_02_install_a_manufacturer_root(tls_csms):
    station = await booted(tls_csms, "TC-M-02")
    manufacturer_root = make_root("rsa", serial=0x4D02).certificate

    answer = await install(tls_csms, "TC-M-02", certificate_type=MANUFACTURER_ROOT, pem=pem(manufacturer_root))

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "Accepted"
    assert requests(station, "InstallCertificate") == [
        {"certificateType": MANUFACTURER_ROOT, "certificate": pem(manufacturer_root)}]
    # Not a CSMS root: the station's AdditionalRootCertificateCheck does not matter, so it is not asked.
    assert requests(station, "GetVariables") == []
    (entry,) = answer.json()["inventory"]["certificates"]
    assert entry["certificate_type"] == MANUFACTURER_ROOT and entry["serial_number"] == "4d02"
    assert entry["csms_generation"] is None
