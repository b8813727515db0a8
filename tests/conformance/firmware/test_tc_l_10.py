"""TC_L_10_CSMS — A new firmware update while one runs, AcceptedCanceled (L01.FR.24): the first
update has been downloaded and verified; the second UpdateFirmware is answered AcceptedCanceled,
the CSMS marks the first cancelled, and the second runs to Installed (downloaded over HTTPS or
FTP, verified, reboot, BootNotification Accepted)."""

from __future__ import annotations

import pytest
from firmware_support import HAPPY, PROTOCOLS, reaches, second_while_first_runs, updates
from ocpp_support import files_csms  # noqa: F401 - fixture


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tc_l_10_second_update_cancels_the_first(files_csms, protocol):
    station, _image, first_id, second = await second_while_first_runs(files_csms, "TC-L-10", protocol, "cancel")

    assert second.status_code == 200 and second.json()["result"]["status"] == "AcceptedCanceled", second.text
    second_id = second.json()["update"]["request_id"]
    assert await reaches(files_csms, "TC-L-10", second_id, "Installed") == HAPPY
    kept = {u["request_id"]: u for u in await updates(files_csms, "TC-L-10")}
    assert (kept[first_id]["answer"], kept[first_id]["status"]) == ("Accepted", "cancelled")
    assert (kept[second_id]["answer"], kept[second_id]["status"]) == ("AcceptedCanceled", "Installed")
    assert [location.split("://")[0] for location, _ in station.firmware.downloaded] == [protocol, protocol]
    assert station.firmware.boots == ["Accepted"]
