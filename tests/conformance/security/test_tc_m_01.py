"""TC_M_01_CSMS — Install CA certificate: CSMS root (M05.FR.01), reusable state CertificateInstalled.

The operator asks for our CSMS root to be installed; the station must receive InstallCertificate
with certificateType CSMSRootCertificate and exactly the configured root, and answers Accepted.
"""

from __future__ import annotations

import json

from ocpp_support import tls_csms  # noqa: F401 - fixture
from trust_anchor_support import CSMS_ROOT, actions, audit, booted, csms_root, install, pem, requests


async def test_tc_m_01_install_the_csms_root(tls_csms):
    station = await booted(tls_csms, "TC-M-01")

    answer = await install(tls_csms, "TC-M-01", certificate_type=CSMS_ROOT, source="csms-root")

    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["status"] == "Accepted" and result["additional_root_check"] is False
    (sent,) = requests(station, "InstallCertificate")
    assert sent == {"certificateType": CSMS_ROOT, "certificate": pem(csms_root(tls_csms))}
    assert station.certificates.certificates(CSMS_ROOT) == [csms_root(tls_csms)]
    # The inventory is refreshed after the install and shows the root as ours.
    assert actions(station)[-1] == "GetInstalledCertificateIds"
    assert requests(station, "GetInstalledCertificateIds")[-1] == {"certificateType": [CSMS_ROOT]}
    (entry,) = result["inventory"]["certificates"]
    assert (entry["certificate_type"], entry["csms_generation"], entry["cross_signed"]) == (CSMS_ROOT, 1, False)
    assert json.loads(audit(tls_csms, "station.certificate.install.result", "TC-M-01")[-1].detail)["status"] == \
        "Accepted"


async def test_the_additional_root_check_variable_is_read_once(tls_csms):
    station = await booted(tls_csms, "TC-M-01-ARCC")
    for _ in range(2):
        answer = await install(tls_csms, "TC-M-01-ARCC", certificate_type=CSMS_ROOT, source="csms-root")
        assert answer.status_code == 200 and answer.json()["status"] == "Accepted"
    (asked,) = requests(station, "GetVariables")
    assert asked == {"getVariableData": [{"component": {"name": "SecurityCtrlr"},
                                          "variable": {"name": "AdditionalRootCertificateCheck"}}]}
    assert tls_csms.station_row("TC-M-01-ARCC").additional_root_check is False
    assert len(station.certificates.installed) == 1  # installing the same root twice keeps one
