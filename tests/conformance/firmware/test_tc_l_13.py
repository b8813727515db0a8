"""TC_L_13_CSMS — Firmware update while a transaction runs: the CSMS sends UpdateFirmware (with
the configured signingCertificate) during a transaction; the station downloads (HTTPS or FTP)
and verifies, sets its connector Unavailable, waits for the transaction to end, then installs,
reboots (BootNotification Accepted) and reports Installed."""

from __future__ import annotations

import asyncio

import pytest
from core_support import Transactions, eventually, get, report
from firmware_support import HAPPY, PROTOCOLS, downloaded_over, reaches, ready, sent, statuses, update
from ocpp_support import files_csms  # noqa: F401 - fixture


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tc_l_13_install_waits_for_the_transaction(files_csms, protocol):
    station, image = await ready(files_csms, "TC-L-13")
    await report(station, 1, 1, "Available")
    transaction = Transactions(station)
    await transaction.send("Started", "Authorized", energy_wh=0)
    running = [True]
    station.firmware.busy = lambda: running[0]

    answer = await update(files_csms, "TC-L-13", image["id"], protocol)

    assert answer.status_code == 200 and answer.json()["result"]["status"] == "Accepted", answer.text
    assert sent(station)[0]["firmware"]["signingCertificate"] == image["signing_certificate"]
    request_id = answer.json()["update"]["request_id"]
    await reaches(files_csms, "TC-L-13", request_id, "SignatureVerified")

    async def connector_unavailable():
        return [c for c in await get(files_csms, "/api/v1/stations/TC-L-13/connectors") if c["status"] == "Unavailable"]
    await eventually(connector_unavailable)
    await asyncio.sleep(0.3)
    assert "Installing" not in await statuses(files_csms, "TC-L-13", request_id)  # still waiting

    await transaction.send("Ended", "StopAuthorized", energy_wh=1200, info={"stoppedReason": "Local"})
    running[0] = False

    assert await reaches(files_csms, "TC-L-13", request_id, "Installed") == HAPPY
    await downloaded_over(station, protocol, image["sha256"])
    assert station.firmware.boots == ["Accepted"]
