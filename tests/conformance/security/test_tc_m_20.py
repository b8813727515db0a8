"""TC_M_20_CSMS — Delete a certificate (M04.FR.01, M04.FR.07), for SHA256, SHA384 and SHA512.

First CertificateInstalled (CSMSRootCertificate). Then one operator request makes the CSMS
(a) send GetInstalledCertificateIds — certificateType containing CSMSRootCertificate — and
(b) send DeleteCertificate whose certificateHashData is exactly what the station returned.
The root is our only CSMS root on the station and anchors the server certificate we serve, so
the officer forces the delete with a reason, which the audit log keeps.
"""

from __future__ import annotations

import json

import pytest
from ocpp_support import tls_csms  # noqa: F401 - fixture
from trust_anchor_support import (
    CSMS_ROOT,
    actions,
    audit,
    booted,
    delete_fresh,
    install,
    record_answers,
    requests,
)

REASON = "TC_M_20 conformance run, lab station"


@pytest.mark.parametrize("algorithm", ["SHA256", "SHA384", "SHA512"])
async def test_tc_m_20_delete_with_the_hash_data_the_station_returned(tls_csms, algorithm):
    station_id = f"TC-M-20-{algorithm}"
    station = await booted(tls_csms, station_id, hash_algorithm=algorithm)
    installed = await install(tls_csms, station_id, certificate_type=CSMS_ROOT, source="csms-root")
    assert installed.json()["status"] == "Accepted"
    answers = record_answers(station, "GetInstalledCertificateIds")
    station.received.clear()

    answer = await delete_fresh(tls_csms, station_id, certificate_type=CSMS_ROOT, force=True, reason=REASON)

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "Accepted" and answer.json()["forced"] is True
    assert actions(station)[:2] == ["GetInstalledCertificateIds", "DeleteCertificate"]
    get_ids = requests(station, "GetInstalledCertificateIds")[0]
    assert CSMS_ROOT in get_ids.get("certificateType", [CSMS_ROOT])
    (returned,) = answers[0]["certificateHashDataChain"]
    (delete,) = requests(station, "DeleteCertificate")
    assert delete == {"certificateHashData": returned["certificateHashData"]}
    assert delete["certificateHashData"]["hashAlgorithm"] == algorithm
    assert station.certificates.certificates(CSMS_ROOT) == []
    # Refreshed after the delete: the inventory no longer lists it.
    assert actions(station)[-1] == "GetInstalledCertificateIds"
    assert answer.json()["inventory"]["certificates"] == []
    entry = audit(tls_csms, "station.certificate.delete", station_id)[-1]
    detail = json.loads(entry.detail)
    assert entry.outcome == "success" and detail["forced"] is True and detail["reason"] == REASON
    assert "delete.served_anchor" in detail["overrode"] and "delete.last_csms_root" in detail["overrode"]
