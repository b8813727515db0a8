"""TC_L_09_CSMS — Secure firmware update, installation failed: the station downloads (HTTPS or FTP), verifies, starts installing and reports InstallationFailed;
the CSMS keeps every status under the requestId and the update ends there (no reboot)."""

from __future__ import annotations

import pytest
from firmware_support import PROTOCOLS, downloaded_over, reaches, ready, update, updates
from ocpp_support import files_csms  # noqa: F401 - fixture


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tc_l_09_installation_failed(files_csms, protocol):
    station, image = await ready(files_csms, "TC-L-09")
    station.firmware.fail_at = "installation"

    answer = await update(files_csms, "TC-L-09", image["id"], protocol)

    assert answer.status_code == 200 and answer.json()["result"]["status"] == "Accepted", answer.text
    request_id = answer.json()["update"]["request_id"]
    assert await reaches(files_csms, "TC-L-09", request_id, "InstallationFailed") == ["Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallationFailed"]
    await downloaded_over(station, protocol, image["sha256"])
    assert station.firmware.boots == []
    (kept,) = await updates(files_csms, "TC-L-09")
    assert kept["status"] == "InstallationFailed"
