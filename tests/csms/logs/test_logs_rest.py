"""Block N01 over REST, beside the conformance cases: what a request leaves when it cannot go,
refusals by name, and the file route before a file exists."""

from __future__ import annotations

from logs_support import log_request, log_station, request_log
from ocpp_support import files_csms  # noqa: F401 - fixture
from sqlmodel import select

from api.core.audit import run_in_session
from api.csms.provisioning import device_model
from storage.audit import AuditEntry
from storage.file_transfer import FileGrant
from storage.logs import LogRequest


async def test_a_station_not_connected_leaves_a_request_without_live_credentials(files_csms):
    csms = files_csms
    csms.add_station("N-OFF")

    made = await request_log(csms, "N-OFF", "SecurityLog", "https")

    assert made.status_code == 409, made.text
    grants = run_in_session(csms.ctx, lambda s: s.exec(select(FileGrant)).all())
    assert len(grants) == 1 and grants[0].revoked_at is not None
    listed = (await csms.rest.get("/api/v1/stations/N-OFF/logs", headers=csms.headers("auditor"))).json()
    assert [(r["log_type"], r["answer"]) for r in listed] == [("SecurityLog", "not_connected")]


async def test_refusals_are_named_and_send_nothing(files_csms):
    csms = files_csms
    station, _ = await log_station(csms, "N-REF")
    naive = await request_log(csms, "N-REF", "DiagnosticsLog", "https", oldest_timestamp="2025-01-01T00:00:00")
    assert naive.status_code == 422 and naive.json()["rule"] == "call.log.timestamp"
    unknown = await request_log(csms, "NO-SUCH", "DiagnosticsLog", "https")
    assert unknown.status_code == 404
    assert [a for a, _ in station.received if a == "GetLog"] == []


async def test_no_file_yet_is_404_and_the_auditor_may_not_ask(files_csms):
    csms = files_csms
    await log_station(csms, "N-WAIT", answer="Rejected")
    made = await request_log(csms, "N-WAIT", "DiagnosticsLog", "ftp")
    request_id = made.json()["request_id"]
    file = await csms.rest.get(f"/api/v1/stations/N-WAIT/logs/{request_id}/file", headers=csms.headers("auditor"))
    assert file.status_code == 404 and file.json()["rule"] == "log.no_file"
    assert (await log_request(csms, "N-WAIT", request_id))["protocol"] == "ftp"
    refused = await csms.rest.post("/api/v1/stations/N-WAIT/logs", json={"log_type": "DiagnosticsLog"},
                                   headers=csms.headers("auditor"))
    assert refused.status_code == 403


async def test_a_station_that_uploads_only_by_ftp_gets_an_ftp_location_and_https_is_refused(files_csms):
    # Station stacks exist whose only file-transfer protocol is FTP: what they report decides.
    csms = files_csms
    station, _ = await log_station(csms, "N-FTP", answer="Rejected")
    run_in_session(csms.ctx, lambda session: device_model.store_entries(session, "N-FTP", [{
        "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "FileTransferProtocols"},
        "variableAttribute": [{"type": "Actual", "value": "FTP", "mutability": "ReadOnly"}]}], None,
        csms.ctx.policy.device_model))

    chosen = await csms.rest.post("/api/v1/stations/N-FTP/logs", json={"log_type": "DiagnosticsLog"},
                                  headers=csms.headers())
    assert chosen.status_code == 200 and chosen.json()["protocol"] == "ftp", chosen.text
    (sent,) = [payload for action, payload in station.received if action == "GetLog"]
    assert sent["log"]["remoteLocation"].startswith("ftp://")
    asked = await request_log(csms, "N-FTP", "DiagnosticsLog", "https")
    assert asked.status_code == 422 and asked.json()["rule"] == "files.protocol_unsupported", asked.text


def _refused_calls(csms) -> list[AuditEntry]:
    return run_in_session(csms.ctx, lambda s: list(s.exec(select(AuditEntry).where(
        AuditEntry.action == "station.call", AuditEntry.outcome == "refused"))))


async def test_a_window_that_ends_before_it_starts_is_refused_audited_and_leaves_nothing(files_csms):
    csms = files_csms
    station, _ = await log_station(csms, "N-WIN")
    swapped = await request_log(csms, "N-WIN", "DiagnosticsLog", "https", oldest_timestamp="2025-06-01T00:00:00Z",
                                latest_timestamp="2025-01-01T00:00:00Z")
    assert swapped.status_code == 422 and swapped.json()["rule"] == "call.log.window", swapped.text
    naive = await request_log(csms, "N-WIN", "DiagnosticsLog", "https", oldest_timestamp="2025-01-01T00:00:00")
    assert naive.status_code == 422
    assert [a for a, _ in station.received if a == "GetLog"] == []
    assert run_in_session(csms.ctx, lambda s: s.exec(select(FileGrant)).all()) == []
    assert run_in_session(csms.ctx, lambda s: s.exec(select(LogRequest)).all()) == []
    assert [e.detail.count("call.log.") for e in _refused_calls(csms)] == [1, 1]


async def test_a_protocol_the_station_lacks_is_refused_and_audited(files_csms):
    csms = files_csms
    await log_station(csms, "N-FTPA")
    run_in_session(csms.ctx, lambda session: device_model.store_entries(session, "N-FTPA", [{
        "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "FileTransferProtocols"},
        "variableAttribute": [{"type": "Actual", "value": "FTP", "mutability": "ReadOnly"}]}], None,
        csms.ctx.policy.device_model))
    asked = await request_log(csms, "N-FTPA", "DiagnosticsLog", "https")
    assert asked.status_code == 422 and asked.json()["rule"] == "files.protocol_unsupported", asked.text
    (entry,) = _refused_calls(csms)
    assert entry.target == "N-FTPA" and "files.protocol_unsupported" in entry.detail


async def test_a_getlog_location_no_station_can_upload_to_is_refused_on_every_door(files_csms):
    # The typed command and the raw call sent file:///…, javascript:… or no URL at all to the station.
    csms = files_csms
    station, _ = await log_station(csms, "N-LOC", answer="Rejected")
    for location in ("file:///etc/shadow", "javascript:alert(1)", "not a url", "https:///no-host", ""):
        typed = await csms.rest.post("/api/v1/stations/N-LOC/commands/GetLog", json={
            "log": {"remote_location": location}, "log_type": "SecurityLog", "request_id": 77},
            headers=csms.headers())
        assert typed.status_code == 422 and typed.json()["rule"] == "call.log.location", (location, typed.text)
        raw = await csms.rest.post("/api/v1/stations/N-LOC/calls", json={"action": "GetLog", "payload": {
            "log": {"remoteLocation": location}, "logType": "SecurityLog", "requestId": 78}}, headers=csms.headers())
        assert raw.status_code == 422 and raw.json()["rule"] == "call.log.location", (location, raw.text)
    swapped = await csms.rest.post("/api/v1/stations/N-LOC/calls", json={"action": "GetLog", "payload": {
        "log": {"remoteLocation": "ftp://logs.example.com/", "oldestTimestamp": "2025-06-01T00:00:00Z",
                "latestTimestamp": "2025-01-01T00:00:00Z"}, "logType": "SecurityLog", "requestId": 79}},
        headers=csms.headers())
    assert swapped.status_code == 422 and swapped.json()["rule"] == "call.log.window", swapped.text
    assert [a for a, _ in station.received if a == "GetLog"] == []
    assert len(_refused_calls(csms)) == 11
    elsewhere = await csms.rest.post("/api/v1/stations/N-LOC/calls", json={"action": "GetLog", "payload": {
        "log": {"remoteLocation": "ftps://logs.example.com/up"}, "logType": "SecurityLog", "requestId": 80}},
        headers=csms.headers())
    assert elsewhere.status_code == 200, elsewhere.text
