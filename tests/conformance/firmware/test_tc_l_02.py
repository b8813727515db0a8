"""TC_L_02_CSMS — Secure firmware update with InstallScheduled (C-15): firmware.installDateTime
lies in the future; the station downloads (HTTPS or FTP), verifies, reports InstallScheduled,
installs at that time, reboots (BootNotification Accepted) and reports Installed."""

from __future__ import annotations

from datetime import datetime

import pytest
from firmware_support import PROTOCOLS, accepted_update, downloaded_over, in_seconds, reaches
from ocpp_support import files_csms  # noqa: F401 - fixture


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tc_l_02_install_scheduled(files_csms, protocol):
    station, image, request = await accepted_update(files_csms, "TC-L-02", protocol,
                                                    install_date_time=lambda: in_seconds(2))

    install_at = datetime.fromisoformat(request["firmware"]["installDateTime"])
    assert install_at > datetime.fromisoformat(request["firmware"]["retrieveDateTime"])
    seen = await reaches(files_csms, "TC-L-02", request["requestId"], "Installed")
    assert seen == ["Downloading", "Downloaded", "SignatureVerified", "InstallScheduled", "Installing",
                    "InstallRebooting", "Installed"]
    await downloaded_over(station, protocol, image["sha256"])
    assert station.firmware.boots == ["Accepted"]
