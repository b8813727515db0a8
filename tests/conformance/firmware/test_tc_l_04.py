"""TC_L_04_CSMS — Secure firmware update, revoked certificate: the station finds the signing
certificate revoked and answers RevokedCertificate; the CSMS keeps the answer, ends the update
there, raises an alert, and the station downloads nothing."""

from __future__ import annotations

import pytest
from cryptography import x509
from firmware_support import PROTOCOLS, ready, security_alerts, sent, update, updates
from ocpp_support import files_csms  # noqa: F401 - fixture


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tc_l_04_revoked_certificate(files_csms, protocol):
    station, image = await ready(files_csms, "TC-L-04")
    signing = x509.load_pem_x509_certificate(image["signing_certificate"].encode())
    station.firmware.revoked_serials.add(signing.serial_number)

    answer = await update(files_csms, "TC-L-04", image["id"], protocol)

    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["status"] == "RevokedCertificate"
    assert sent(station)[0]["firmware"]["location"].startswith(f"{protocol}://")
    (kept,) = await updates(files_csms, "TC-L-04")
    assert (kept["answer"], kept["status"]) == ("RevokedCertificate", "RevokedCertificate")
    assert station.firmware.downloaded == [] and station.firmware.statuses == []
    alerts = [e for e in await security_alerts(files_csms, "TC-L-04") if e["source"] == "csms"]
    assert [e["type"] for e in alerts] == ["InvalidFirmwareSigningCertificate"]
