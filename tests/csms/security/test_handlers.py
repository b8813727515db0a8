"""Block A handlers called directly (no socket): SecurityEventNotification and SignCertificate,
what each answers and what it stores."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

import pytest
from csr_factory import make_csr
from fake_connection import FakeStation, register, rows, unreachable_database

from api.csms.security import certificate_signing
from api.csms.security.alerts import REPEAT_WINDOW
from api.csms.security.handlers import ROWS_PER_TYPE
from api.csms.security.renewal import DELIVERY_PURPOSE
from api.csms.security.renewal import PURPOSE as RENEWAL_PURPOSE
from api.ocpp.framing import ErrorCode, OcppError
from storage.audit import AuditEntry, Outcome
from storage.certificate_requests import CertificateRequest, RequestStatus
from storage.certificates import CertKind, IssuedCertificate
from storage.outbox import OutboundCall
from storage.security_events import SecurityEvent
from storage.spool import Spool

pytestmark = pytest.mark.fast


def _event(event_type: str, **extra) -> dict:
    return {"type": event_type, "timestamp": "2025-06-01T14:00:00+02:00", **extra}


async def test_security_events_are_stored_with_standard_types_marked_critical(ctx):
    register(ctx, "CS-1")
    station = FakeStation(ctx, "CS-1")
    assert await station.send("SecurityEventNotification", _event("TamperDetectionActivated", techInfo="lid")) == {}
    await station.send("SecurityEventNotification", _event("com.vendor.DoorOpened"))
    tamper, vendor = rows(ctx, SecurityEvent)
    assert (tamper.station_id, tamper.source, tamper.type, tamper.tech_info, tamper.critical) == (
        "CS-1", "station", "TamperDetectionActivated", "lid", True)
    assert tamper.occurred_at == datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)  # kept in UTC
    assert (vendor.type, vendor.critical) == ("com.vendor.DoorOpened", False)


async def test_a_critical_event_is_a_warning_for_officers(ctx, caplog):
    register(ctx, "CS-1")
    station = FakeStation(ctx, "CS-1")
    # (A firmware event is an alert of block L besides: tests/csms/firmware/test_handlers.py.)
    await station.send("SecurityEventNotification", _event("TamperDetectionActivated"))
    await station.send("SecurityEventNotification", _event("com.vendor.Info"))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "TamperDetectionActivated" in warnings[0] and "CS-1" in warnings[0]


async def test_a_timestamp_out_of_range_is_a_callerror_naming_the_field(ctx):
    register(ctx, "CS-1")
    with pytest.raises(OcppError) as refused:
        await FakeStation(ctx, "CS-1").send("SecurityEventNotification", _event("X", timestamp="0001-01-01T00:00:00+01:00"))
    assert refused.value.code == ErrorCode.PROPERTY_CONSTRAINT_VIOLATION and refused.value.details["field"] == "timestamp"
    assert rows(ctx, SecurityEvent) == []


@pytest.mark.parametrize("event_type", ["InvalidChargingStationCertificate", "DiscardedRenewedClientCertificate"])
async def test_a_discarded_certificate_queues_a_renewal_and_wakes_the_outbox(ctx, event_type):
    # A02.FR.07/29: the station threw a renewed certificate away; it is asked for a new CSR.
    register(ctx, "CS-1")
    station = FakeStation(ctx, "CS-1")
    await station.send("SecurityEventNotification", _event(event_type))
    [renewal] = rows(ctx, OutboundCall)
    assert (renewal.station_id, renewal.purpose, renewal.action) == ("CS-1", RENEWAL_PURPOSE, "TriggerMessage")
    assert json.loads(renewal.payload)["requestedMessage"] == "SignChargingStationCertificate"
    assert len(station.follow_ups) == 1


async def test_an_event_during_an_outage_is_spooled_and_acknowledged(ctx, tmp_path):
    spool = Spool(tmp_path / "spool" / "events.jsonl", max_entries=1)
    station = FakeStation(unreachable_database(ctx, tmp_path), "CS-1", spool=spool)
    assert await station.send("SecurityEventNotification", _event("TamperDetectionActivated", techInfo="lid")) == {}
    # Full spool: the station is told to keep the event (InternalError) rather than it being lost.
    with pytest.raises(OcppError) as refused:
        await station.send("SecurityEventNotification", _event("ResetOrReboot"))
    assert refused.value.code == ErrorCode.INTERNAL_ERROR
    kept: list[dict] = []
    assert spool.drain(kept.extend) == 1
    assert (kept[0]["station_id"], kept[0]["type"], kept[0]["tech_info"], kept[0]["critical"]) == (
        "CS-1", "TamperDetectionActivated", "lid", True)


async def test_an_event_during_an_outage_without_a_spool_is_refused(ctx, tmp_path):
    station = FakeStation(unreachable_database(ctx, tmp_path), "CS-1")
    with pytest.raises(OcppError) as refused:
        await station.send("SecurityEventNotification", _event("ResetOrReboot"))
    assert refused.value.code == ErrorCode.INTERNAL_ERROR


async def test_an_accepted_csr_is_stored_before_the_answer_and_signed_after_it(sqlite_pki):
    ctx = sqlite_pki.ctx
    register(ctx, "CS-1")
    station = FakeStation(ctx, "CS-1")
    csr, _ = make_csr("CS-1")
    answer = await station.send("SignCertificate", {"csr": csr, "certificateType": "ChargingStationCertificate"})
    assert answer == {"status": "Accepted"}
    [request] = rows(ctx, CertificateRequest)
    assert (request.station_id, request.csr_pem, request.status) == ("CS-1", csr, RequestStatus.ACCEPTED)
    assert rows(ctx, IssuedCertificate, IssuedCertificate.kind == CertKind.STATION) == []  # not yet

    assert await station.run_follow_ups() == 1
    [issued] = rows(ctx, IssuedCertificate, IssuedCertificate.kind == CertKind.STATION)
    [delivery] = rows(ctx, OutboundCall, OutboundCall.purpose == DELIVERY_PURPOSE)
    assert issued.station_id == "CS-1" and delivery.action == "CertificateSigned"
    assert json.loads(delivery.payload)["certificateChain"].startswith(issued.certificate_pem.strip()[:64])
    assert rows(ctx, CertificateRequest)[0].status == RequestStatus.SIGNED


@pytest.mark.parametrize("station_id, profile, csr_cn, certificate_type, reason_code, rule", [
    ("CS-NEW", 2, "CS-NEW", None, "UnknownStation", "station.unknown"),
    ("CS-1", 1, "CS-1", None, "WrongSecurityProfile", "station.profile"),
    ("CS-1", 2, "CS-OTHER", None, "InvalidCSR", "csr."),
    ("CS-1", 2, "CS-1", "V2GCertificate", "NoV2GCA", "v2g"),
])
async def test_an_unsignable_csr_is_rejected_naming_its_rule_and_audited(sqlite_pki, station_id, profile, csr_cn,
                                                                         certificate_type, reason_code, rule):
    ctx = sqlite_pki.ctx
    register(ctx, "CS-1", security_profile=profile)
    payload = {"csr": make_csr(csr_cn)[0]}
    if certificate_type:
        payload["certificateType"] = certificate_type
    station = FakeStation(ctx, station_id, security_profile=profile)
    answer = await station.send("SignCertificate", payload)
    assert answer["status"] == "Rejected" and answer["statusInfo"]["reasonCode"] == reason_code
    assert answer["statusInfo"]["additionalInfo"].startswith(rule)
    assert rows(ctx, CertificateRequest) == [] and station.follow_ups == []
    [refused] = rows(ctx, AuditEntry, AuditEntry.action == "certificate.sign")
    assert refused.outcome == Outcome.REFUSED and json.loads(refused.detail)["rule"].startswith(rule)


async def test_a_flood_of_refused_csrs_writes_one_audit_entry_per_rule_and_window(sqlite_pki, caplog):
    """The audit chain has no bound and one lock: a station repeating refused CSRs as fast as it
    sends wrote an entry each. Each is still answered Rejected, naming its rule."""
    ctx = sqlite_pki.ctx
    register(ctx, "CS-1")
    station = FakeStation(ctx, "CS-1")
    wrong_cn, _ = make_csr("CS-OTHER")
    caplog.set_level(logging.INFO, logger="chargeca.ocpp.certificates")
    for payload in [{"csr": wrong_cn}] * 20 + [{"csr": "not a CSR"}] * 20:
        answer = await station.send("SignCertificate", payload)
        assert answer["status"] == "Rejected" and answer["statusInfo"]["reasonCode"] == "InvalidCSR"
    assert answer["statusInfo"]["additionalInfo"].startswith("csr.format")
    refused = rows(ctx, AuditEntry, AuditEntry.action == "certificate.sign")
    assert [json.loads(entry.detail)["rule"] for entry in refused] == ["csr.subject.cn", "csr.format"]
    assert len([r for r in caplog.records if r.levelno >= logging.INFO]) == 2
    assert rows(ctx, CertificateRequest) == []
    # After the window the next refusal of the rule is audited again.
    later = station.live.repeats.clock() + REPEAT_WINDOW.total_seconds() + 1
    station.live.repeats.clock = lambda: later
    await station.send("SignCertificate", {"csr": wrong_cn})
    assert len(rows(ctx, AuditEntry, AuditEntry.action == "certificate.sign")) == 3


async def test_a_flood_of_events_is_counted_not_written_row_by_row_and_logged_once(ctx, caplog):
    """A station sending events as fast as it can wrote a row and, for a critical one, a WARNING
    each: the table's bound then removed every other station's oldest evidence first. Now ten rows
    of a type a window, the repeats beyond counted on the last; the log says it once."""
    register(ctx, "CS-1")
    station = FakeStation(ctx, "CS-1")
    for n in range(40):
        tamper = _event("TamperDetectionActivated", techInfo=f"lid {n}")
        assert await station.send("SecurityEventNotification", tamper) == {}
    await station.send("SecurityEventNotification", _event("ResetOrReboot"))
    kept = rows(ctx, SecurityEvent, SecurityEvent.type == "TamperDetectionActivated")
    assert [(e.tech_info, e.occurrences) for e in kept] == [(f"lid {n}", 1) for n in range(9)] + [("lid 9", 31)]
    assert sum(e.occurrences for e in kept) == 40 and kept[-1].last_seen_at is not None
    assert len(rows(ctx, SecurityEvent, SecurityEvent.type == "ResetOrReboot")) == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2 and "TamperDetectionActivated" in warnings[0] and "ResetOrReboot" in warnings[1]
    # Another station's first one is its own line.
    register(ctx, "CS-2")
    await FakeStation(ctx, "CS-2").send("SecurityEventNotification", _event("TamperDetectionActivated"))
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 3


async def test_an_alert_repeated_in_a_flood_is_logged_at_powers_of_two(ctx, caplog):
    # A firmware event is also an alert (block L): its repeats are counted on it, and were a line each.
    register(ctx, "CS-1")
    station = FakeStation(ctx, "CS-1")
    for _ in range(64):
        await station.send("SecurityEventNotification", _event("InvalidFirmwareSignature"))
    [alert] = rows(ctx, SecurityEvent, SecurityEvent.source == "csms")
    assert alert.occurrences == 64
    alerts = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "ALERT" in r.getMessage()]
    assert [line.split("(")[1].split(" ")[0] for line in alerts[1:]] == ["2", "4", "8", "16", "32", "64"]
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1 + 7


async def test_a_station_flooding_fresh_csrs_gets_no_more_than_its_hourly_quota_signed(sqlite_pki, monkeypatch):
    """Each CSR with a fresh key was accepted and signed: a certificate, a request, a delivery and
    an audit entry kept for good per message, as fast as the station sent them."""
    ctx = sqlite_pki.ctx
    limit = ctx.policy.csr.requests_per_station_per_hour
    register(ctx, "CS-1")
    station = FakeStation(ctx, "CS-1")
    for _ in range(limit):
        assert await station.send("SignCertificate", {"csr": make_csr("CS-1")[0]}) == {"status": "Accepted"}
    answer = await station.send("SignCertificate", {"csr": make_csr("CS-1")[0]})
    assert answer["status"] == "Rejected" and answer["statusInfo"]["reasonCode"] == "RateLimitExceeded"
    assert answer["statusInfo"]["additionalInfo"].startswith("station.csr_rate")
    assert len(rows(ctx, CertificateRequest)) == limit
    await station.run_follow_ups()
    assert len(rows(ctx, IssuedCertificate, IssuedCertificate.station_id == "CS-1")) == limit
    # Another station has a quota of its own; this one's comes back after the hour.
    register(ctx, "CS-2")
    other = await FakeStation(ctx, "CS-2").send("SignCertificate", {"csr": make_csr("CS-2")[0]})
    assert other == {"status": "Accepted"}
    later = certificate_signing.utcnow() + certificate_signing.RATE_PERIOD
    monkeypatch.setattr(certificate_signing, "utcnow", lambda: later)
    assert await station.send("SignCertificate", {"csr": make_csr("CS-1")[0]}) == {"status": "Accepted"}


async def test_a_station_making_up_event_types_shares_one_count_past_its_budget_of_types(ctx):
    register(ctx, "CS-1")
    station = FakeStation(ctx, "CS-1")
    types = [f"Vendor{n}" for n in range(station.live.repeats.KEYS + 200)]
    for kind in types:
        for _ in range(ROWS_PER_TYPE + 1):
            assert await station.send("SecurityEventNotification", _event(kind)) == {}
    kept = rows(ctx, SecurityEvent, SecurityEvent.station_id == "CS-1")
    assert sum(e.occurrences for e in kept) == len(types) * (ROWS_PER_TYPE + 1)
    assert len(kept) == (station.live.repeats.KEYS + 1) * ROWS_PER_TYPE
    # A new connection, or the next window, starts afresh.
    later = station.live.repeats.clock() + REPEAT_WINDOW.total_seconds()
    station.live.repeats.clock = lambda: later
    await station.send("SecurityEventNotification", _event("Vendor0"))
    assert len(rows(ctx, SecurityEvent, SecurityEvent.station_id == "CS-1")) == len(kept) + 1
