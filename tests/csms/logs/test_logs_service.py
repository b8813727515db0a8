"""Block N01 without a socket: LogStatusNotification through the handler, the answers of GetLog
from any door (call effects), N01.FR.12 supersession, retention, the protocol choice."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fake_connection import FakeStation
from sqlmodel import select

from api.core.audit import run_in_session
from api.csms import call_effects
from api.csms.file_transfer import Endpoints
from api.csms.logs import service
from api.csms.logs.retention import prune_logs
from policies.file_transfer import choose_protocol, station_protocols
from policies.model import LogPolicy
from policies.refusal import Refusal
from storage.db import session_scope
from storage.file_transfer import FileGrant, ReceivedFile
from storage.logs import MAX_EVENTS_PER_REQUEST, LogRequest, LogStatusEvent
from storage.types import utcnow

pytestmark = pytest.mark.fast

ENDPOINTS = Endpoints("csms.test", 9444, 2121)
POLICY = LogPolicy(max_bytes=1000, retention_days=30, max_files_per_station=2)


def _prepare(ctx, request_id: int, station_id: str = "CS-1", **options) -> service.Prepared:
    return run_in_session(ctx, lambda s: service.prepare(
        s, ENDPOINTS, POLICY, station_id=station_id, request_id=request_id, log_type="DiagnosticsLog",
        requested_by="operator:test", **options))


def _payload(request_id: int) -> dict:
    return {"requestId": request_id, "logType": "DiagnosticsLog", "log": {"remoteLocation": "https://x/"}}


def _answer(ctx, request_id: int, status: str, station_id: str = "CS-1") -> None:
    run_in_session(ctx, lambda s: call_effects.answered(s, station_id, "GetLog", _payload(request_id),
                                                        {"status": status}, "operator:test"))


def _row(ctx, request_id: int, station_id: str = "CS-1") -> LogRequest:
    return run_in_session(ctx, lambda s: service.find(s, station_id, request_id))


def _grant(ctx, request_id: int) -> FileGrant:
    return run_in_session(ctx, lambda s: s.get(FileGrant, service.find(s, "CS-1", request_id).grant_id))


async def test_every_status_is_kept_per_request_and_the_last_one_on_it(ctx):
    _prepare(ctx, 7)
    station = FakeStation(ctx, "CS-1")
    for status in ("Uploading", "UploadFailure"):
        assert await station.send("LogStatusNotification", {"status": status, "requestId": 7}) == {}
    assert await station.send("LogStatusNotification", {"status": "Idle"}) == {}
    assert _row(ctx, 7).status == "UploadFailure"
    events = run_in_session(ctx, lambda s: s.exec(select(LogStatusEvent).order_by(LogStatusEvent.id)).all())
    assert [(e.request_id, e.status) for e in events] == [(7, "Uploading"), (7, "UploadFailure"), (None, "Idle")]
    assert _grant(ctx, 7).revoked_at is not None   # a failure comes after the station's retries (N01.FR.10)


@pytest.mark.parametrize("status", ["Uploading", "Uploaded", "UploadFailure", "BadMessage", "NotSupportedOperation",
                                    "PermissionDenied", "AcceptedCanceled", "Idle"])
async def test_each_upload_status_is_accepted(ctx, status):
    _prepare(ctx, 8)
    assert await FakeStation(ctx, "CS-1").send("LogStatusNotification", {"status": status, "requestId": 8}) == {}
    assert _row(ctx, 8).status == status
    assert (_grant(ctx, 8).revoked_at is not None) == (status in service.ENDING and status != "Uploaded")


async def test_reports_of_another_station_or_unknown_requests_change_nothing(ctx):
    _prepare(ctx, 9)
    assert await FakeStation(ctx, "CS-2").send("LogStatusNotification", {"status": "Uploaded", "requestId": 9}) == {}
    assert await FakeStation(ctx, "CS-1").send("LogStatusNotification", {"status": "Uploaded", "requestId": 99}) == {}
    assert _row(ctx, 9).status is None


async def test_reports_per_request_are_bounded(ctx):
    station = FakeStation(ctx, "CS-1")
    for _ in range(MAX_EVENTS_PER_REQUEST + 5):
        await station.send("LogStatusNotification", {"status": "Uploading", "requestId": 3})
    count = run_in_session(ctx, lambda s: len(s.exec(select(LogStatusEvent)).all()))
    assert count == MAX_EVENTS_PER_REQUEST


async def test_reports_for_requests_never_sent_are_bounded_together(ctx):
    """A station picks its requestIds: one report for each of thousands we never asked for was
    one row each, bounded by nothing but retention. Ours keep their own reports."""
    _prepare(ctx, 5)
    station = FakeStation(ctx, "CS-1")
    await station.send("LogStatusNotification", {"status": "Uploading", "requestId": 5})
    for request_id in range(1000, 1000 + 3 * MAX_EVENTS_PER_REQUEST):
        assert await station.send("LogStatusNotification", {"status": "Uploading", "requestId": request_id}) == {}
    await station.send("LogStatusNotification", {"status": "Uploaded", "requestId": 5})
    kept = run_in_session(ctx, lambda s: s.exec(select(LogStatusEvent).order_by(LogStatusEvent.id)).all())
    ours = [(e.request_id, e.status) for e in kept if e.request_id == 5]
    strangers = [e.request_id for e in kept if e.request_id != 5]
    assert ours == [(5, "Uploading"), (5, "Uploaded")] and _row(ctx, 5).status == "Uploaded"
    assert strangers == list(range(1000 + 2 * MAX_EVENTS_PER_REQUEST, 1000 + 3 * MAX_EVENTS_PER_REQUEST))


def test_a_rejected_request_loses_its_credentials(ctx):
    _prepare(ctx, 10)
    _answer(ctx, 10, "Rejected")
    assert _row(ctx, 10).answer == "Rejected" and _grant(ctx, 10).revoked_at is not None


def test_accepted_canceled_supersedes_the_running_request(ctx):
    _prepare(ctx, 11)
    _answer(ctx, 11, "Accepted")
    run_in_session(ctx, lambda s: service.status_reported(s, "CS-1", "Uploading", 11))
    _prepare(ctx, 12)
    _answer(ctx, 12, "AcceptedCanceled")
    assert _row(ctx, 11).superseded_by == 12 and _grant(ctx, 11).revoked_at is not None
    assert _row(ctx, 12).superseded_by is None and _grant(ctx, 12).revoked_at is None


def test_a_finished_request_is_not_superseded(ctx):
    _prepare(ctx, 13)
    _answer(ctx, 13, "Accepted")
    run_in_session(ctx, lambda s: service.status_reported(s, "CS-1", "Uploaded", 13))
    _prepare(ctx, 14)
    _answer(ctx, 14, "AcceptedCanceled")
    assert _row(ctx, 13).superseded_by is None


def test_a_getlog_sent_by_hand_is_tracked_without_credentials(ctx):
    run_in_session(ctx, lambda s: call_effects.requested(s, "CS-1", "operator:o", "GetLog", _payload(20)))
    _answer(ctx, 20, "Accepted")
    row = _row(ctx, 20)
    assert (row.answer, row.grant_id, row.protocol, row.requested_by) == ("Accepted", None, None, "operator:o")


def test_an_unanswered_request_loses_its_credentials(ctx):
    _prepare(ctx, 21)
    run_in_session(ctx, lambda s: call_effects.unanswered(s, "CS-1", "GetLog", _payload(21), "not_connected"))
    assert _row(ctx, 21).answer == "not_connected" and _grant(ctx, 21).revoked_at is not None


def test_prepare_refuses_a_protocol_that_is_off(ctx):
    with pytest.raises(Refusal, match="ftp file server is not running"):
        run_in_session(ctx, lambda s: service.prepare(
            s, Endpoints("csms.test", 9444, None), POLICY, station_id="CS-1", request_id=1, log_type="SecurityLog",
            requested_by="o", protocol="ftp"))
    assert run_in_session(ctx, lambda s: s.exec(select(FileGrant)).all()) == []


def test_protocol_choice():
    assert choose_protocol(asked=None, preferred="https", running=["https", "ftp"], station=None)[0] == "https"
    assert choose_protocol(asked=None, preferred="https", running=["https", "ftp"], station=["ftp"])[0] == "ftp"
    assert choose_protocol(asked=None, preferred="ftp", running=["https"], station=None)[0] == "https"
    assert choose_protocol(asked="ftp", preferred="https", running=["https", "ftp"], station=None)[0] == "ftp"
    refused = choose_protocol(asked=None, preferred="https", running=["https"], station=["ftp"])
    assert refused[0] is None and refused[1].rule == "files.protocol_unsupported"
    assert station_protocols(["FTPS", "HTTP", "sftp"]) == ("ftp",)
    assert station_protocols(None) is None


def _received(ctx, request_id: int, days_ago: float) -> Path:
    prepared = _prepare(ctx, request_id)
    path = ctx.settings.data_dir / "files" / "received" / "log" / prepared.request.grant_id / "l.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"log")

    def work(session):
        session.add(ReceivedFile(grant_id=prepared.request.grant_id, station_id="CS-1", purpose="log",
                                 request_id=request_id, file_name="l.log",
                                 path=str(path.relative_to(ctx.settings.data_dir)), size=3, sha256="0" * 64,
                                 protocol="https", received_at=utcnow() - timedelta(days=days_ago)))
        row = service.find(session, "CS-1", request_id)
        row.requested_at = utcnow() - timedelta(days=days_ago)
        session.add(row)
    run_in_session(ctx, work)
    return path


def test_retention_keeps_the_newest_files_within_the_policy(ctx):
    from dataclasses import replace
    ctx = replace(ctx, policy=replace(ctx.policy, logs=POLICY))
    old = _received(ctx, 30, days_ago=40)
    kept = [_received(ctx, 31 + n, days_ago=3 - n) for n in range(3)]
    assert prune_logs(ctx) == 2
    assert not old.exists() and not kept[0].exists() and kept[1].exists() and kept[2].exists()
    assert _row(ctx, 30) is None and _row(ctx, 31) is not None
    left = run_in_session(ctx, lambda s: sorted(r.request_id for r in s.exec(select(ReceivedFile)).all()))
    assert left == [32, 33]


def test_status_reports_on_each_database_keep_their_bound_and_revoke_on_failure(engine):
    """The statements of status_reported on SQLite and PostgreSQL: reports without a requestId
    (Idle) are counted and bounded like the others, the request's latest status is set, a failure
    revokes the grant and Uploaded does not."""

    def run(work):
        with session_scope(engine) as session:
            return work(session)

    for request_id in (1, 2):
        run(lambda s, r=request_id: service.prepare(s, ENDPOINTS, POLICY, station_id="CS-1", request_id=r,
                                                    log_type="DiagnosticsLog", requested_by="operator:test"))
    for _ in range(MAX_EVENTS_PER_REQUEST + 2):
        run(lambda s: service.status_reported(s, "CS-1", "Idle", None))
    run(lambda s: service.status_reported(s, "CS-1", "Uploaded", 1))
    run(lambda s: service.status_reported(s, "CS-1", "UploadFailure", 2))
    run(lambda s: service.status_reported(s, "CS-2", "UploadFailure", 1))   # another station's: nothing of CS-1's
    for request_id in range(100, 100 + MAX_EVENTS_PER_REQUEST + 2):   # never sent: bounded together
        run(lambda s, r=request_id: service.status_reported(s, "CS-1", "Uploading", r))
    strangers = run(lambda s: s.exec(select(LogStatusEvent.request_id).where(LogStatusEvent.request_id >= 100)).all())
    assert sorted(strangers) == list(range(102, 100 + MAX_EVENTS_PER_REQUEST + 2))

    idle = run(lambda s: s.exec(select(LogStatusEvent).where(LogStatusEvent.request_id == None)).all())  # noqa: E711
    assert len(idle) == MAX_EVENTS_PER_REQUEST
    first, second = (run(lambda s, r=r: service.find(s, "CS-1", r)) for r in (1, 2))
    assert (first.status, second.status) == ("Uploaded", "UploadFailure")
    assert first.status_at is not None and second.status_at is not None
    grants = {r.request_id: run(lambda s, r=r: s.get(FileGrant, r.grant_id)) for r in (first, second)}
    assert grants[1].revoked_at is None and grants[2].revoked_at is not None
    assert run(lambda s: service.find(s, "CS-2", 1)) is None
