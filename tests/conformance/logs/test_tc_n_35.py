"""TC_N_35 — Retrieve log, SecurityLog: GetLog with logType SecurityLog; the station uploads its
security log, reports Uploading then Uploaded, and the file is stored with its checksum."""

from __future__ import annotations

import hashlib

import pytest
from core_support import received
from logs_support import PROTOCOLS, downloaded, log_station, request_log, settled
from ocpp_support import files_csms  # noqa: F401 - fixture

from simulator.logs import sample_log


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tc_n_35_security_log(files_csms, protocol):
    csms = files_csms
    station, _ = await log_station(csms, "N35", file_name="security.log")

    made = await request_log(csms, "N35", "SecurityLog", protocol)

    assert made.json()["result"]["status"] == "Accepted", made.text
    request_id = made.json()["request_id"]
    (sent,) = received(station, "GetLog")
    assert sent["logType"] == "SecurityLog"
    row = await settled(csms, "N35", request_id, "Uploaded")
    expected = sample_log("SecurityLog", request_id)
    assert row["log_type"] == "SecurityLog" and row["file"]["file_name"] == "security.log"
    assert row["file"]["sha256"] == hashlib.sha256(expected).hexdigest()
    assert await downloaded(csms, "N35", request_id) == expected
