"""TC_N_36 — Retrieve log, a second request during an upload (N01.FR.12): the first GetLog is
Accepted and its upload reports Uploading; the second is answered AcceptedCanceled, the first
requestId reports AcceptedCanceled, then the second uploads (Uploading, Uploaded). ChargeCA
answers each, marks the first superseded and revokes its credentials; only the second file is kept."""

from __future__ import annotations

import asyncio

import pytest
from logs_support import PROTOCOLS, downloaded, log_request, log_station, request_log, settled
from ocpp_support import files_csms  # noqa: F401 - fixture

from simulator.file_transfer import TransferFailed, upload
from simulator.logs import sample_log


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tc_n_36_second_request_during_upload(files_csms, protocol):
    csms = files_csms
    station, uploads = await log_station(csms, "N36")
    uploads.hold = asyncio.Event()   # the first upload stays between Uploading and its transfer

    first = await request_log(csms, "N36", "DiagnosticsLog", protocol)
    assert first.json()["result"]["status"] == "Accepted", first.text
    first_id = first.json()["request_id"]
    await settled(csms, "N36", first_id, "Uploading")

    uploads.hold = None   # the first upload keeps the hold it started with; the second has none
    second = await request_log(csms, "N36", "DiagnosticsLog", protocol)

    assert second.json()["result"]["status"] == "AcceptedCanceled", second.text
    second_id = second.json()["request_id"]
    old = await settled(csms, "N36", first_id, "AcceptedCanceled")
    assert [e["status"] for e in old["events"]] == ["Uploading", "AcceptedCanceled"]
    assert old["superseded_by"] == second_id and old["file"] is None
    new = await settled(csms, "N36", second_id, "Uploaded")
    assert [e["status"] for e in new["events"]] == ["Uploading", "Uploaded"]
    assert await downloaded(csms, "N36", second_id) == sample_log("DiagnosticsLog", second_id)
    # Every LogStatusNotification was answered, in the order the station sent them.
    assert uploads.reports == [(first_id, "Uploading", {}), (first_id, "AcceptedCanceled", {}),
                               (second_id, "Uploading", {}), (second_id, "Uploaded", {})]
    # The cancelled request's credentials no longer open anything.
    (first_sent, _) = [p for action, p in station.received if action == "GetLog"]
    with pytest.raises(TransferFailed) as refused:
        upload(first_sent["log"]["remoteLocation"], b"old log", ca_file=csms.root_pem, server_hostname="csms.test")
    assert refused.value.status in (403, 530)
    assert (await log_request(csms, "N36", first_id))["file"] is None
