"""TC_L_06_CSMS — Secure firmware update, invalid signature: the station downloads the image
(HTTPS or FTP), its signature check fails over the bytes it holds (damaged after the
download), it reports FirmwareStatus InvalidSignature and sends SecurityEventNotification
InvalidFirmwareSignature; the CSMS keeps the status, acknowledges the event, raises an alert."""

from __future__ import annotations

import pytest
from core_support import eventually
from firmware_support import PROTOCOLS, downloaded_over, reaches, ready, security_alerts, update, updates
from ocpp_support import files_csms  # noqa: F401 - fixture


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tc_l_06_invalid_signature(files_csms, protocol):
    station, image = await ready(files_csms, "TC-L-06")
    station.firmware.tamper = True

    answer = await update(files_csms, "TC-L-06", image["id"], protocol)

    assert answer.status_code == 200 and answer.json()["result"]["status"] == "Accepted", answer.text
    request_id = answer.json()["update"]["request_id"]
    assert await reaches(files_csms, "TC-L-06", request_id, "InvalidSignature") == [
        "Downloading", "Downloaded", "InvalidSignature"]
    await downloaded_over(station, protocol, image["sha256"])

    async def both():
        events = await security_alerts(files_csms, "TC-L-06")
        station_events = [e["type"] for e in events if e["source"] == "station"]
        alerts = [(e["type"], e["occurrences"]) for e in events if e["source"] == "csms"]
        return (station_events, alerts) if station_events and alerts and alerts[0][1] == 2 else None
    station_events, alerts = await eventually(both)
    assert station_events == ["InvalidFirmwareSignature"]
    assert alerts == [("InvalidFirmwareSignature", 2)]  # one alert: the status, and the event counted on it
    (kept,) = await updates(files_csms, "TC-L-06")
    assert kept["status"] == "InvalidSignature"
