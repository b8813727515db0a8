"""TC_L_11_CSMS — A new firmware update while one runs, Rejected (L01.FR.27): the station
refuses the second UpdateFirmware; the CSMS keeps that answer and the first update runs on to
Installed (downloaded over HTTPS or FTP, verified, reboot, BootNotification Accepted)."""

from __future__ import annotations

import pytest
from firmware_support import HAPPY, PROTOCOLS, downloaded_over, reaches, ready, update, updates
from ocpp_support import files_csms  # noqa: F401 - fixture


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tc_l_11_second_update_rejected(files_csms, protocol):
    station, image = await ready(files_csms, "TC-L-11")
    station.firmware.on_new_request = "reject"
    station.firmware.hold.clear()
    first = await update(files_csms, "TC-L-11", image["id"], protocol)
    first_id = first.json()["update"]["request_id"]
    await reaches(files_csms, "TC-L-11", first_id, "SignatureVerified")

    second = await update(files_csms, "TC-L-11", image["id"], protocol)
    station.firmware.hold.set()

    assert second.status_code == 200 and second.json()["result"]["status"] == "Rejected", second.text
    assert await reaches(files_csms, "TC-L-11", first_id, "Installed") == HAPPY
    kept = {u["request_id"]: u for u in await updates(files_csms, "TC-L-11")}
    second_id = second.json()["update"]["request_id"]
    assert kept[second_id]["status"] == "Rejected" and kept[first_id]["status"] == "Installed"
    await downloaded_over(station, protocol, image["sha256"])
