"""TC_L_07_CSMS — Secure firmware update, download failed: the station's download fails (its
location's credentials ended before it fetched: here revoked, as when they expire) and it
reports Downloading → DownloadFailed; the CSMS keeps it and the update ends there."""

from __future__ import annotations

import asyncio

import pytest
from firmware_support import PROTOCOLS, reaches, ready, update, updates
from ocpp_support import files_csms  # noqa: F401 - fixture
from sqlmodel import select

from api.core.audit import run_in_session
from api.csms.file_transfer import revoke
from simulator.file_transfer import TransferFailed
from storage.firmware import FirmwareUpdate


def _withdraw(csms, request_id: int) -> None:
    def work(session):
        row = session.exec(select(FirmwareUpdate).where(FirmwareUpdate.request_id == request_id)).one()
        assert revoke(session, row.grant_id)
    run_in_session(csms.ctx, work)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tc_l_07_download_failed(files_csms, protocol):
    station, image = await ready(files_csms, "TC-L-07")
    handle = station.handlers["UpdateFirmware"]

    async def credentials_gone_first(st, payload):
        await asyncio.to_thread(_withdraw, files_csms, payload["requestId"])
        return handle(st, payload)
    station.handlers["UpdateFirmware"] = credentials_gone_first

    answer = await update(files_csms, "TC-L-07", image["id"], protocol)

    assert answer.status_code == 200 and answer.json()["result"]["status"] == "Accepted", answer.text
    request_id = answer.json()["update"]["request_id"]
    assert await reaches(files_csms, "TC-L-07", request_id, "DownloadFailed") == ["Downloading", "DownloadFailed"]
    assert station.firmware.downloaded == []
    (kept,) = await updates(files_csms, "TC-L-07")
    assert kept["status"] == "DownloadFailed" and "***" in kept["location"]
    with pytest.raises(TransferFailed):  # the location really refuses it (its secret is not stored: ask again)
        station.firmware.fetch(station.received[-1][1]["firmware"]["location"])
