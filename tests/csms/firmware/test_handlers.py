"""Block L handlers called directly (no socket): FirmwareStatusNotification kept per requestId
(with history, bounded per station; a requestId we never sent kept too), the update's status
following it, AcceptedCanceled ending the previous update, PublishFirmwareStatusNotification
stored, and the firmware security events raised as alerts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fake_connection import FakeStation, register, rows

from api.core.audit import run_in_session
from api.csms.firmware import service
from storage import firmware as tables
from storage.audit import AuditEntry
from storage.firmware import CANCELLED, FirmwareImage, FirmwareRoot, FirmwareStatusEvent, FirmwareUpdate
from storage.security_events import SecurityEvent

pytestmark = pytest.mark.fast


def _update(ctx, station_id: str, request_id: int) -> int:
    def work(session):
        root = session.get(FirmwareRoot, 1) or FirmwareRoot(id=1, sha256="0" * 64, subject="CN=Test Root",
                                                            certificate_pem="-", not_after=datetime.now(UTC),
                                                            added_by="test")
        session.add(root)
        image = session.get(FirmwareImage, 1) or FirmwareImage(
            id=1, name="fw", version="2", sha256="1" * 64, size=1, signature="c2ln", signing_certificate_pem="-",
            signing_certificate_sha256="2" * 64, root_id=1, signed_by="manufacturer", uploaded_by="test")
        session.add(image)
        session.flush()
        row = FirmwareUpdate(station_id=station_id, request_id=request_id, image_id=1, location="https://x/***",
                             retrieve_at=datetime.now(UTC), requested_by="test")
        session.add(row)
        session.flush()
        return row.id
    return run_in_session(ctx, work)


async def test_statuses_are_kept_per_request_and_the_update_follows_them(ctx):
    register(ctx, "FW-1")
    _update(ctx, "FW-1", 7)
    station = FakeStation(ctx, "FW-1")

    for status in ("Downloading", "Downloaded", "SignatureVerified"):
        assert await station.send("FirmwareStatusNotification", {"status": status, "requestId": 7}) == {}
    assert await station.send("FirmwareStatusNotification", {"status": "Idle"}) == {}
    assert await station.send("FirmwareStatusNotification", {"status": "Installed", "requestId": 99}) == {}

    kept = rows(ctx, FirmwareStatusEvent, FirmwareStatusEvent.station_id == "FW-1")
    assert [(e.request_id, e.status, e.update_id is not None) for e in kept] == [
        (7, "Downloading", True), (7, "Downloaded", True), (7, "SignatureVerified", True), (None, "Idle", False),
        (99, "Installed", False)]
    (update,) = rows(ctx, FirmwareUpdate, FirmwareUpdate.station_id == "FW-1")
    assert update.status == "SignatureVerified"


async def test_invalid_signature_is_an_alert_and_its_repeats_are_counted_on_it(ctx):
    register(ctx, "FW-2")
    _update(ctx, "FW-2", 3)
    station = FakeStation(ctx, "FW-2")

    await station.send("FirmwareStatusNotification", {"status": "InvalidSignature", "requestId": 3})
    await station.send("SecurityEventNotification", {"type": "InvalidFirmwareSignature",
                                                     "timestamp": "2026-12-04T04:00:00Z"})
    # A station can say so for any requestId, as fast as it sends: each was a row and an entry of
    # the audit log, which nothing bounds.
    for request_id in range(100, 150):
        await station.send("FirmwareStatusNotification", {"status": "InvalidSignature", "requestId": request_id})

    events = rows(ctx, SecurityEvent, SecurityEvent.station_id == "FW-2")
    assert sorted((e.source, e.type, e.critical, e.occurrences) for e in events) == [
        ("csms", "InvalidFirmwareSignature", True, 52), ("station", "InvalidFirmwareSignature", True, 1)]
    (alert,) = [e for e in events if e.source == "csms"]
    assert alert.last_seen_at is not None and "request 3" in alert.tech_info
    assert len(rows(ctx, AuditEntry, AuditEntry.action == "certificate.alert")) == 1


async def test_accepted_canceled_ends_the_update_that_ran(ctx):
    register(ctx, "FW-3")
    first, second = _update(ctx, "FW-3", 1), _update(ctx, "FW-3", 2)
    run_in_session(ctx, lambda s: service.record_answer(s, first, "Accepted", "answered"))

    run_in_session(ctx, lambda s: service.record_answer(s, second, "AcceptedCanceled", "answered"))
    station = FakeStation(ctx, "FW-3")
    await station.send("FirmwareStatusNotification", {"status": "Downloading", "requestId": 1})

    by_request = {u.request_id: u for u in rows(ctx, FirmwareUpdate, FirmwareUpdate.station_id == "FW-3")}
    assert by_request[1].status == CANCELLED  # a late status of the cancelled one does not revive it
    assert (by_request[2].answer, by_request[2].status) == ("AcceptedCanceled", "AcceptedCanceled")


async def test_a_status_after_the_update_ended_is_history_only(ctx):
    """Out of order, repeated, or contradicting the station's own answer: before, each overwrote
    the update's status, so a refused or failed update read Installed and its campaign counted it."""
    register(ctx, "FW-5")
    refused, failed, installed, silent, retried = (_update(ctx, "FW-5", n) for n in (1, 2, 3, 4, 5))
    run_in_session(ctx, lambda s: service.record_answer(s, refused, "Rejected", "answered"))
    run_in_session(ctx, lambda s: service.record_answer(s, silent, None, "timeout"))
    station = FakeStation(ctx, "FW-5")
    for request_id, status in ((2, "InvalidSignature"), (3, "Installed"),
                               (1, "Installed"), (2, "Installed"), (3, "Downloading"), (4, "Downloading"),
                               (5, "DownloadFailed"), (5, "Downloading"), (5, "Installed")):
        assert await station.send("FirmwareStatusNotification", {"status": status, "requestId": request_id}) == {}

    by_request = {u.request_id: u.status for u in rows(ctx, FirmwareUpdate, FirmwareUpdate.station_id == "FW-5")}
    # An update whose UpdateFirmware went unanswered may still have reached the station, and a
    # failed download may be tried again: both follow.
    assert by_request == {1: "Rejected", 2: "InvalidSignature", 3: "Installed", 4: "Downloading", 5: "Installed"}
    kept = rows(ctx, FirmwareStatusEvent, FirmwareStatusEvent.station_id == "FW-5")
    assert [(e.request_id, e.status) for e in kept] == [
        (2, "InvalidSignature"), (3, "Installed"), (1, "Installed"), (2, "Installed"), (3, "Downloading"),
        (4, "Downloading"), (5, "DownloadFailed"), (5, "Downloading"), (5, "Installed")]
    assert {failed, installed} <= {e.update_id for e in kept}


async def test_history_is_bounded_per_station(ctx, monkeypatch):
    register(ctx, "FW-4")
    monkeypatch.setattr(service, "STATUS_HISTORY_MAX", 5)
    station = FakeStation(ctx, "FW-4")
    for n in range(8):
        await station.send("FirmwareStatusNotification", {"status": "Idle", "requestId": n})
    assert [e.request_id for e in rows(ctx, FirmwareStatusEvent, FirmwareStatusEvent.station_id == "FW-4")] == \
        [3, 4, 5, 6, 7]


async def test_publish_firmware_statuses_are_stored(ctx):
    register(ctx, "LC-1")
    station = FakeStation(ctx, "LC-1")

    answer = await station.send("PublishFirmwareStatusNotification", {
        "status": "Published", "requestId": 4, "location": ["https://lc.local/fw.bin", "ftp://lc.local/fw.bin"]})

    assert answer == {}
    shown = run_in_session(ctx, lambda s: service.publish_statuses(s, "LC-1"))
    assert [(p.status, p.request_id) for p in shown] == [("Published", 4)]
    assert "ftp://lc.local/fw.bin" in shown[0].locations
    assert tables.PUBLISH_HISTORY_MAX == 200
