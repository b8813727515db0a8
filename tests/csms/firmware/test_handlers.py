"""Block L handler called directly (no socket): FirmwareStatusNotification is acknowledged and
its progress shows in the log (the only record until firmware management is stored)."""

from __future__ import annotations

import logging

import pytest
from fake_connection import FakeStation

pytestmark = pytest.mark.fast


async def test_firmware_progress_is_acknowledged_and_logged(ctx, caplog):
    caplog.set_level(logging.INFO, logger="chargeca.ocpp.firmware")
    station = FakeStation(ctx, "CS-FW")
    for status in ("Downloading", "Installed"):
        assert await station.send("FirmwareStatusNotification", {"status": status, "requestId": 3}) == {}
    lines = [record.getMessage() for record in caplog.records if record.name == "chargeca.ocpp.firmware"]
    assert lines == ["firmware update 3 of CS-FW: Downloading", "firmware update 3 of CS-FW: Installed"]
