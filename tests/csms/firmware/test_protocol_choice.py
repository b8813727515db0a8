"""The download protocol of an UpdateFirmware the officer sends without naming one: chosen from
what the station reported (OCPPCommCtrlr.FileTransferProtocols) among the file servers that
run, https first, as a log's upload location is; the simulated station then fetches the image
over it and verifies its signature."""

from __future__ import annotations

import json

from firmware_support import downloaded_over, reaches, ready, sent, update
from ocpp_support import files_csms  # noqa: F401 - fixture
from sqlmodel import select

from api.core.audit import run_in_session
from api.csms.provisioning import device_model
from storage.audit import AuditEntry


def _reports(csms, station_id: str, protocols: str) -> None:
    run_in_session(csms.ctx, lambda session: device_model.store_entries(session, station_id, [{
        "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "FileTransferProtocols"},
        "variableAttribute": [{"type": "Actual", "value": protocols, "mutability": "ReadOnly"}]}], None,
        csms.ctx.policy.device_model))


async def test_an_ftp_only_station_gets_an_ftp_location_when_the_officer_names_none(files_csms):
    station, image = await ready(files_csms, "FW-AUTO-FTP")
    _reports(files_csms, "FW-AUTO-FTP", "FTP,FTPS")

    answer = await update(files_csms, "FW-AUTO-FTP", image["id"], protocol=None)

    assert answer.status_code == 200 and answer.json()["result"]["status"] == "Accepted", answer.text
    (request,) = sent(station)
    assert request["firmware"]["location"].startswith("ftp://")
    assert (await reaches(files_csms, "FW-AUTO-FTP", request["requestId"], "Installed"))[-1] == "Installed"
    await downloaded_over(station, "ftp", image["sha256"])
    audited = run_in_session(files_csms.ctx, lambda s: s.exec(select(AuditEntry).where(
        AuditEntry.action == "firmware.update", AuditEntry.target == "FW-AUTO-FTP")).one())
    assert json.loads(audited.detail)["protocol"] == "ftp"


async def test_a_station_that_reported_nothing_or_both_gets_https(files_csms):
    station, image = await ready(files_csms, "FW-AUTO-ANY")
    _reports(files_csms, "FW-AUTO-ANY", "FTP,HTTPS")

    answer = await update(files_csms, "FW-AUTO-ANY", image["id"], protocol=None)

    assert answer.status_code == 200, answer.text
    (request,) = sent(station)
    assert request["firmware"]["location"].startswith("https://")
    await reaches(files_csms, "FW-AUTO-ANY", request["requestId"], "Installed")
    await downloaded_over(station, "https", image["sha256"])
