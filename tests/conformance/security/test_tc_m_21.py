"""TC_M_21_CSMS — Delete a certificate, the station answers Failed: the same GetIds/Delete
sequence; the CSMS records and reports Failed, the inventory still lists the certificate."""

from __future__ import annotations

import json

from ocpp_support import tls_csms  # noqa: F401 - fixture
from trust_anchor_support import CSMS_ROOT, actions, audit, booted, delete_fresh, install, requests


async def test_tc_m_21_delete_failed_is_handled(tls_csms):
    station = await booted(tls_csms, "TC-M-21")
    assert (await install(tls_csms, "TC-M-21", certificate_type=CSMS_ROOT, source="csms-root")).status_code == 200
    station.certificates.delete_answer = "Failed"
    station.received.clear()

    answer = await delete_fresh(tls_csms, "TC-M-21", certificate_type=CSMS_ROOT, force=True,
                                reason="TC_M_21 conformance run")

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "Failed"
    assert actions(station) == ["GetInstalledCertificateIds", "DeleteCertificate", "GetInstalledCertificateIds"]
    assert requests(station, "DeleteCertificate")[0]["certificateHashData"] == answer.json()["certificate_hash_data"]
    (still_there,) = answer.json()["inventory"]["certificates"]
    assert still_there["certificate_type"] == CSMS_ROOT
    result = audit(tls_csms, "station.certificate.delete.result", "TC-M-21")[-1]
    assert json.loads(result.detail)["status"] == "Failed"
    assert await station.heartbeat()  # the station and the connection carry on
