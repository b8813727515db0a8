"""TC_M_05_CSMS — Install CA certificate, the station answers Failed (M05.FR.01, M05.FR.03):
the CSMS records and reports it, and nothing else breaks."""

from __future__ import annotations

import json

from ocpp_support import tls_csms  # noqa: F401 - fixture
from trust_anchor_support import CSMS_ROOT, actions, audit, booted, csms_root, install, pem, requests


async def test_tc_m_05_install_failed_is_handled(tls_csms):
    station = await booted(tls_csms, "TC-M-05")
    station.certificates.install_answer = "Failed"

    answer = await install(tls_csms, "TC-M-05", certificate_type=CSMS_ROOT, source="csms-root")

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "Failed"
    assert requests(station, "InstallCertificate") == [{"certificateType": CSMS_ROOT,
                                                        "certificate": pem(csms_root(tls_csms))}]
    result = audit(tls_csms, "station.certificate.install.result", "TC-M-05")[-1]
    assert result.outcome == "success" and json.loads(result.detail)["status"] == "Failed"
    # The CSMS still looked at what the station holds (nothing), and shows that.
    assert actions(station)[-1] == "GetInstalledCertificateIds"
    assert answer.json()["inventory"]["certificates"] == []
    assert answer.json()["inventory"]["refreshed_at"] is not None

    # Nothing else broke: the connection is up and a second attempt goes through.
    assert await station.heartbeat()
    station.certificates.install_answer = None
    again = await install(tls_csms, "TC-M-05", certificate_type=CSMS_ROOT, source="csms-root")
    assert again.status_code == 200 and again.json()["status"] == "Accepted"


async def test_a_rejected_root_is_reported_as_the_station_said(tls_csms):
    station = await booted(tls_csms, "TC-M-05-REJ")
    station.certificates.install_answer = "Rejected"
    answer = await install(tls_csms, "TC-M-05-REJ", certificate_type=CSMS_ROOT, source="csms-root")
    assert answer.status_code == 200 and answer.json()["status"] == "Rejected"
