"""TC_L_03_CSMS — Secure firmware update with DownloadScheduled (C-15): firmware.retrieveDateTime
lies in the future; the station reports DownloadScheduled, downloads at that time (HTTPS or
FTP), verifies, installs, reboots (BootNotification Accepted), Installed."""

from __future__ import annotations

from datetime import datetime

import pytest
from firmware_support import HAPPY, PROTOCOLS, accepted_update, downloaded_over, in_seconds, reaches, updates
from ocpp_support import files_csms  # noqa: F401 - fixture


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tc_l_03_download_scheduled(files_csms, protocol):
    station, image, request = await accepted_update(files_csms, "TC-L-03", protocol,
                                                    retrieve_date_time=lambda: in_seconds(2))

    (kept,) = await updates(files_csms, "TC-L-03")
    assert datetime.fromisoformat(request["firmware"]["retrieveDateTime"]) > datetime.fromisoformat(kept["created_at"])
    seen = await reaches(files_csms, "TC-L-03", request["requestId"], "Installed")
    assert seen == ["DownloadScheduled", *HAPPY]
    await downloaded_over(station, protocol, image["sha256"])
    assert station.firmware.boots == ["Accepted"]
