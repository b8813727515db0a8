"""TC_L_07_CSMS — Secure firmware update, download failed: the station's download fails (the
one-time location was already used once by someone else) and it reports Downloading →
DownloadFailed; the CSMS keeps it and the update ends there."""

from __future__ import annotations

import asyncio

import pytest
from firmware_support import PROTOCOLS, reaches, ready, update, updates
from ocpp_support import tls_csms  # noqa: F401 - fixture


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tc_l_07_download_failed(tls_csms, protocol):
    station, image = await ready(tls_csms, "TC-L-07")
    handle = station.handlers["UpdateFirmware"]
    taken = []

    async def first_someone_downloads(st, payload):
        # A one-time location: whoever fetched it first leaves the station nothing to fetch.
        taken.append(await asyncio.to_thread(st.firmware.fetch, payload["firmware"]["location"]))
        return handle(st, payload)
    station.handlers["UpdateFirmware"] = first_someone_downloads

    answer = await update(tls_csms, "TC-L-07", image["id"], protocol)

    assert answer.status_code == 200 and answer.json()["result"]["status"] == "Accepted", answer.text
    request_id = answer.json()["update"]["request_id"]
    assert await reaches(tls_csms, "TC-L-07", request_id, "DownloadFailed") == ["Downloading", "DownloadFailed"]
    assert len(taken) == 1 and len(taken[0]) == image["size"]
    assert station.firmware.downloaded == []
    (kept,) = await updates(tls_csms, "TC-L-07")
    assert kept["status"] == "DownloadFailed"
