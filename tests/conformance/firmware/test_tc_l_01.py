"""TC_L_01_CSMS — Secure firmware update, happy path (L01): UpdateFirmwareRequest carries the
configured signingCertificate and signature (L01.FR.11) and a one-time location; the station
downloads the image over HTTPS or FTP, verifies the certificate against its
ManufacturerRootCertificate and the signature over the bytes, reports Downloading → Downloaded →
SignatureVerified → Installing → InstallRebooting, reboots (BootNotification Accepted), then
Installed, all with the same requestId, kept by the CSMS."""

from __future__ import annotations

import pytest
from firmware_support import HAPPY, PROTOCOLS, downloaded_over, reaches, ready, sent, update, updates
from ocpp_support import files_csms  # noqa: F401 - fixture


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tc_l_01_secure_firmware_update(files_csms, protocol):
    station, image = await ready(files_csms, "TC-L-01")

    answer = await update(files_csms, "TC-L-01", image["id"], protocol)

    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["status"] == "Accepted"
    request_id = answer.json()["update"]["request_id"]
    (request,) = sent(station)
    firmware = request["firmware"]
    assert request["requestId"] == request_id
    assert firmware["signingCertificate"] == image["signing_certificate"]
    assert firmware["signature"] == image["signature"]
    assert firmware["location"].startswith(f"{protocol}://") and "retrieveDateTime" in firmware
    assert await reaches(files_csms, "TC-L-01", request_id, "Installed") == HAPPY
    assert station.firmware.statuses == [(request_id, status) for status in HAPPY]
    await downloaded_over(station, protocol, image["sha256"])
    assert station.firmware.boots == ["Accepted"]
    (kept,) = await updates(files_csms, "TC-L-01")
    assert (kept["answer"], kept["status"]) == ("Accepted", "Installed")
