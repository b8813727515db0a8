"""The kill switch and station upkeep over REST, with real stations over WebSockets: disable /
enable / delete (live connections closed at once, reconnects refused), a given Basic-auth
password, the security profile (lowering only by an officer with a reason), and a boot policy
of Rejected that also stops a station reconnecting without a BootNotification."""

from __future__ import annotations

import json
import time

import pytest
from ocpp_support import csms, tls_csms  # noqa: F401 - fixtures
from ocpp_transport_helpers import issue_client_certificate
from sqlmodel import select

from api.core.audit import Actor, run_in_session
from api.operations.stations import add_station, delete_station, disable_station
from simulator.station import CallError, StationRefused
from storage.audit import AuditEntry
from storage.certificate_requests import CertificateRequest
from storage.certificates import CertStatus, IssuedCertificate
from storage.connector_status import ConnectorState
from storage.db import session_scope
from storage.device_model import (
    DeviceAttribute,
    DeviceReport,
    DeviceReportPart,
    DeviceVariable,
    StationOnboarding,
)
from storage.id_tokens import LocalListState, MasterPassGroup
from storage.outbox import OutboundCall
from storage.stations import InstalledCertificate, Station, StationDisconnect
from storage.tariffs import Tariff
from storage.types import utcnow

CLOSED_BY_POLICY = 1008
GOOD_PASSWORD = "Factory-Provisioned-0123456789"


def _audit(csms, action: str, station_id: str) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.action == action, AuditEntry.target == station_id)
    return run_in_session(csms.ctx, lambda s: list(s.exec(query.order_by(AuditEntry.seq))))


async def _connected(csms, station_id: str, *, profile: int = 1):
    password = csms.add_station(station_id, profile=profile)
    station = csms.simulator(station_id, profile=profile, password=password)
    await station.connect()
    assert (await station.boot())["status"] == "Accepted"
    await csms.connected(station_id)
    return station


async def test_disable_closes_the_live_session_at_once_and_enable_needs_an_officer(csms):
    station = await _connected(csms, "UK-KILL")

    answer = await csms.rest.post("/api/v1/stations/UK-KILL/disable", json={"reason": "tampering reported"},
                                  headers=csms.headers("operator"))
    assert answer.status_code == 200 and answer.json()["enabled"] is False, answer.text
    started = time.monotonic()
    code, reason = await station.wait_closed(timeout=1.0)
    assert time.monotonic() - started < 1.0
    assert code == CLOSED_BY_POLICY and "disabled" in reason
    await csms.until(lambda: csms.gateway.session("UK-KILL") is None)
    with pytest.raises(StationRefused) as refused:
        await station.reconnect()
    assert refused.value.status == 403

    by_operator = await csms.rest.post("/api/v1/stations/UK-KILL/enable", headers=csms.headers("operator"))
    assert by_operator.status_code == 403
    by_officer = await csms.rest.post("/api/v1/stations/UK-KILL/enable", headers=csms.headers("officer"))
    assert by_officer.status_code == 200 and by_officer.json()["enabled"] is True
    station._ws, station._reader = None, None
    await station.connect()
    assert (await station.heartbeat())["currentTime"]
    (disabled,) = _audit(csms, "station.disable", "UK-KILL")
    assert disabled.outcome == "success" and json.loads(disabled.detail)["reason"] == "tampering reported"
    assert [e.outcome for e in _audit(csms, "station.enable", "UK-KILL")] == ["success"]


async def test_delete_is_an_officers_and_revokes_closes_and_forgets(tls_csms, tmp_path):
    tls_csms.add_station("UK-GONE", profile=3)
    chain, key, serial = issue_client_certificate(tls_csms, "UK-GONE", tmp_path)
    station = tls_csms.simulator("UK-GONE", profile=3, client_cert=chain, client_key=key)
    await station.connect()
    await tls_csms.connected("UK-GONE")

    by_operator = await tls_csms.rest.delete("/api/v1/stations/UK-GONE", headers=tls_csms.headers("operator"))
    assert by_operator.status_code == 403 and station.connected
    answer = await tls_csms.rest.delete("/api/v1/stations/UK-GONE", params={"reason": "decommissioned"},
                                        headers=tls_csms.headers("officer"))
    assert answer.status_code == 200 and answer.json()["revoked"] == [serial], answer.text

    code, reason = await station.wait_closed(timeout=1.0)
    assert code == CLOSED_BY_POLICY and "deleted" in reason
    assert (await tls_csms.rest.get("/api/v1/stations/UK-GONE", headers=tls_csms.headers())).status_code == 404
    record = run_in_session(tls_csms.ctx, lambda s: s.exec(
        select(IssuedCertificate).where(IssuedCertificate.serial_hex == serial)).one())
    assert record.status == CertStatus.REVOKED and record.revocation_reason == "cessationOfOperation"
    # Registered again under the same identity, the old certificate does not get it in.
    tls_csms.add_station("UK-GONE", profile=3)
    await tls_csms.until(lambda: tls_csms.gateway.session("UK-GONE") is None)
    with pytest.raises(StationRefused) as refused:
        await station.reconnect()
    assert refused.value.status == 403


async def test_a_given_password_replaces_the_old_one_under_the_password_policy(csms):
    old = csms.add_station("UK-PASS", profile=1)

    weak = await csms.rest.put("/api/v1/stations/UK-PASS/password", json={"password": "short"},
                               headers=csms.headers("operator"))
    assert weak.status_code == 422 and weak.json()["rule"] == "station.password"
    assert weak.json()["field"] == "password" and "short" not in weak.text
    answer = await csms.rest.put("/api/v1/stations/UK-PASS/password", json={"password": GOOD_PASSWORD},
                                 headers=csms.headers("operator"))
    assert answer.status_code == 200 and answer.json()["has_password"] is True

    with pytest.raises(StationRefused) as refused:
        await csms.simulator("UK-PASS", password=old).connect()
    assert refused.value.status == 401
    station = csms.simulator("UK-PASS", password=GOOD_PASSWORD)
    await station.connect()
    assert (await station.boot())["status"] == "Accepted"
    entries = _audit(csms, "station.password.set", "UK-PASS")
    assert [e.outcome for e in entries] == ["refused", "success"]
    assert all(GOOD_PASSWORD not in e.detail for e in entries)


async def test_lowering_a_profile_needs_an_officer_and_a_reason_and_other_profiles_are_closed(tls_csms):
    station = await _connected(tls_csms, "UK-PROFILE", profile=2)
    path = "/api/v1/stations/UK-PROFILE/security-profile"

    by_operator = await tls_csms.rest.put(path, json={"security_profile": 1}, headers=tls_csms.headers("operator"))
    assert by_operator.status_code == 403 and by_operator.json()["rule"] == "station.profile.lower"
    no_reason = await tls_csms.rest.put(path, json={"security_profile": 1}, headers=tls_csms.headers("officer"))
    assert no_reason.status_code == 422 and no_reason.json()["rule"] == "station.profile.reason"
    assert station.connected

    lowered = await tls_csms.rest.put(path, json={"security_profile": 1, "reason": "TLS module broken, ticket 7"},
                                      headers=tls_csms.headers("officer"))
    assert lowered.status_code == 200 and lowered.json()["security_profile"] == 1
    code, reason = await station.wait_closed(timeout=1.0)
    assert code == CLOSED_BY_POLICY and "profile changed to 1" in reason
    outcomes = [(e.outcome, json.loads(e.detail).get("rule")) for e in
                _audit(tls_csms, "station.security_profile.set", "UK-PROFILE")]
    assert outcomes == [("refused", "station.profile.lower"), ("refused", "station.profile.reason"),
                        ("success", None)]

    raised = await tls_csms.rest.put(path, json={"security_profile": 2}, headers=tls_csms.headers("operator"))
    assert raised.status_code == 200 and raised.json()["security_profile"] == 2


async def test_boot_policy_rejected_stops_a_station_that_reconnects_without_booting(csms):
    station = await _connected(csms, "UK-REJECT")
    answer = await csms.rest.put("/api/v1/stations/UK-REJECT/boot-policy", json={"status": "Rejected"},
                                 headers=csms.headers("operator"))
    assert answer.status_code == 200

    await station.reconnect()   # and no BootNotification (P4 §5.3 allows that when nothing changed)
    await csms.connected("UK-REJECT")
    for send in (station.heartbeat, station.status_notification):
        with pytest.raises(CallError) as refused:
            await send()
        assert refused.value.code == "SecurityError"
    assert (await station.boot())["status"] == "Rejected"
    with pytest.raises(CallError):
        await station.heartbeat()


def test_delete_removes_what_refers_to_the_station_on_both_databases(pki, tmp_path):
    actor = Actor("cli:test", "officer")
    add_station(pki.ctx, actor, "UK-DB", security_profile=3)
    _chain, _key, serial = issue_client_certificate(pki, "UK-DB", tmp_path)
    with session_scope(pki.ctx.engine) as session:
        leaf = InstalledCertificate(station_id="UK-DB", certificate_type="V2GCertificateChain", hash_algorithm="SHA256",
                                    issuer_name_hash="aa", issuer_key_hash="bb", serial_number="01")
        session.add(leaf)
        session.flush()
        session.add(InstalledCertificate(station_id="UK-DB", certificate_type="V2GCertificateChain",
                                         hash_algorithm="SHA256", issuer_name_hash="cc", issuer_key_hash="dd",
                                         serial_number="02", parent_id=leaf.id))
        session.add(OutboundCall(station_id="UK-DB", action="Reset", payload="{}", created_by="test"))
        session.add(CertificateRequest(station_id="UK-DB", csr_pem="-----BEGIN CERTIFICATE REQUEST-----"))
        # The device's settings: a new station under this identity must not inherit them.
        session.add(LocalListState(station_id="UK-DB", version=7))
        session.add(ConnectorState(station_id="UK-DB", evse_id=1, connector_id=1, status="Faulted",
                                   reported_at=utcnow()))
        session.add(MasterPassGroup(scope="UK-DB", group_id_token="OLD-MASTER"))
        session.add(Tariff(scope="UK-DB", currency="EUR", price_per_kwh="0.30", price_per_minute="0",
                           flat_fee="0", updated_by="test"))
        # Its device model: the next device's boot interval, message limits, value checks and
        # variable count were the old one's, and it skipped onboarding as done.
        key = "DeviceDataCtrlr||-1|-1|ItemsPerMessage|GetVariables"
        session.add(DeviceVariable(station_id="UK-DB", var_key=key, component="DeviceDataCtrlr",
                                   variable="ItemsPerMessage", variable_instance="GetVariables"))
        session.add(DeviceAttribute(station_id="UK-DB", var_key=key, type="Actual", value="1"))
        report = DeviceReport(station_id="UK-DB", request_id=7, kind="GetBaseReport", requested_by="test")
        session.add(report)
        session.flush()
        session.add(DeviceReportPart(report_id=report.id, seq_no=0, tbc=True, entries=1))
        session.add(StationOnboarding(station_id="UK-DB", state="done"))

    assert delete_station(pki.ctx, actor, "UK-DB", "decommissioned") == [serial]

    with session_scope(pki.ctx.engine) as session:
        assert session.get(Station, "UK-DB") is None
        assert session.exec(select(InstalledCertificate)).all() == []
        assert session.exec(select(OutboundCall)).all() == []
        assert session.exec(select(CertificateRequest)).all() == []
        for table in (LocalListState, ConnectorState, MasterPassGroup, Tariff, DeviceVariable, DeviceAttribute,
                      DeviceReport, DeviceReportPart, StationOnboarding):
            assert session.exec(select(table)).all() == [], table.__name__
        (request,) = session.exec(select(StationDisconnect)).all()
        assert request.station_id == "UK-DB" and request.serial_hex is None
    with pytest.raises(LookupError):
        disable_station(pki.ctx, actor, "UK-DB")
