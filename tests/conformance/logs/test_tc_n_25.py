"""TC_N_25 — Retrieve log, DiagnosticsLog: GetLog with logType DiagnosticsLog and an upload location
ChargeCA runs; the station reports Uploading then Uploaded and the file is stored as uploaded."""

from __future__ import annotations

import hashlib

import pytest
from core_support import received
from logs_support import PROTOCOLS, downloaded, log_request, log_station, request_log, settled
from ocpp_support import files_csms  # noqa: F401 - fixture

from simulator.file_transfer import TransferFailed, upload
from simulator.logs import sample_log


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tc_n_25_diagnostics_log(files_csms, protocol):
    csms = files_csms
    station, uploads = await log_station(csms, "N25")

    made = await request_log(csms, "N25", "DiagnosticsLog", protocol)

    assert made.status_code == 200, made.text
    assert made.json()["result"]["status"] == "Accepted" and made.json()["protocol"] == protocol
    request_id = made.json()["request_id"]
    (sent,) = received(station, "GetLog")
    assert sent["logType"] == "DiagnosticsLog" and sent["requestId"] == request_id
    assert sent["log"]["remoteLocation"].startswith(f"{protocol}://")
    row = await settled(csms, "N25", request_id, "Uploaded")
    assert [e["status"] for e in row["events"]] == ["Uploading", "Uploaded"]
    expected = sample_log("DiagnosticsLog", request_id)
    assert row["file"]["size"] == len(expected) == uploads.uploaded[request_id].size
    assert row["file"]["sha256"] == hashlib.sha256(expected).hexdigest() and row["file"]["protocol"] == protocol
    assert row["answer"] == "Accepted" and row["station_file_name"] == "station.log"
    assert await downloaded(csms, "N25", request_id) == expected
    # the one-time credentials are used up: the station cannot overwrite the stored log
    with pytest.raises(TransferFailed) as refused:
        upload(sent["log"]["remoteLocation"], b"overwrite", ca_file=csms.root_pem, server_hostname="csms.test")
    assert refused.value.status in (403, 530)
    assert (await log_request(csms, "N25", request_id))["file"]["sha256"] == row["file"]["sha256"]
