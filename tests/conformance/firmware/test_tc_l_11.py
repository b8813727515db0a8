"""TC_L_11_CSMS — A new firmware update while one runs, Rejected (L01.FR.27): the station
refuses the second UpdateFirmware; the CSMS keeps that answer and the first update runs on to
Installed (downloaded over HTTPS or FTP, verified, reboot, BootNotification Accepted)."""

from __future__ import annotations

import pytest
from firmware_support import HAPPY, PROTOCOLS, downloaded_over, reaches, second_while_first_runs, updates
from ocpp_support import files_csms  # noqa: F401 - fixture


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tc_l_11_second_update_rejected(files_csms, protocol):
    station, image, first_id, second = await second_while_first_runs(files_csms, "TC-L-11", protocol, "reject")

    assert second.status_code == 200 and second.json()["result"]["status"] == "Rejected", second.text
    assert await reaches(files_csms, "TC-L-11", first_id, "Installed") == HAPPY
    kept = {u["request_id"]: u for u in await updates(files_csms, "TC-L-11")}
    second_id = second.json()["update"]["request_id"]
    assert kept[second_id]["status"] == "Rejected" and kept[first_id]["status"] == "Installed"
    await downloaded_over(station, protocol, image["sha256"])
