"""TC_L_05_CSMS — Secure firmware update, invalid signing certificate: the station cannot chain
the signing certificate to a ManufacturerRootCertificate it holds (here it lost the root since
it last reported its inventory), answers InvalidCertificate and sends SecurityEventNotification
InvalidFirmwareSigningCertificate; the CSMS acknowledges it, keeps the answer and raises an alert."""

from __future__ import annotations

import pytest
from core_support import eventually
from firmware_support import PROTOCOLS, ready, security_alerts, sent, update, updates
from ocpp_support import files_csms  # noqa: F401 - fixture
from trust_anchor_support import MANUFACTURER_ROOT


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tc_l_05_invalid_signing_certificate(files_csms, protocol):
    station, image = await ready(files_csms, "TC-L-05")
    station.certificates.installed = [c for c in station.certificates.installed
                                      if c.certificate_type != MANUFACTURER_ROOT]

    answer = await update(files_csms, "TC-L-05", image["id"], protocol)

    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["status"] == "InvalidCertificate"
    assert sent(station)[0]["firmware"]["signingCertificate"] == image["signing_certificate"]

    async def station_event():
        events = await security_alerts(files_csms, "TC-L-05")
        return [e for e in events if e["source"] == "station"]
    (event,) = await eventually(station_event)
    assert event["type"] == "InvalidFirmwareSigningCertificate" and event["critical"]
    (kept,) = await updates(files_csms, "TC-L-05")
    assert kept["status"] == "InvalidCertificate"
    alerts = [e for e in await security_alerts(files_csms, "TC-L-05") if e["source"] == "csms"]
    # One alert for the answer, the station's event counted on it.
    assert [(e["type"], e["occurrences"]) for e in alerts] == [("InvalidFirmwareSigningCertificate", 2)]
    assert station.firmware.downloaded == []
