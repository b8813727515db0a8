"""TC_N_34 — Retrieve log, Rejected: the station answers GetLogResponse Rejected; ChargeCA keeps the
answer, revokes the upload credentials it made for the request, and nothing is uploaded."""

from __future__ import annotations

import pytest
from logs_support import PROTOCOLS, log_request, log_station, request_log
from ocpp_support import files_csms  # noqa: F401 - fixture

from simulator.file_transfer import TransferFailed, upload


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tc_n_34_rejected(files_csms, protocol):
    csms = files_csms
    station, _ = await log_station(csms, "N34", answer="Rejected")

    made = await request_log(csms, "N34", "DiagnosticsLog", protocol)

    assert made.status_code == 200, made.text
    assert made.json()["result"]["status"] == "Rejected"
    request_id = made.json()["request_id"]
    row = await log_request(csms, "N34", request_id)
    assert row["answer"] == "Rejected" and row["status"] is None and row["file"] is None
    # A station that uploads anyway finds the credentials revoked: nothing is stored.
    (sent,) = [p for action, p in station.received if action == "GetLog"]
    with pytest.raises(TransferFailed) as refused:
        upload(sent["log"]["remoteLocation"], b"late log", ca_file=csms.root_pem, server_hostname="csms.test")
    assert refused.value.status in (403, 530)
    assert (await log_request(csms, "N34", request_id))["file"] is None
