"""Renewing station certificates before they expire, and retiring the ones they replace.

The renewal scheduler (certificates in use expiring within [renewal] window_days, paced by
[renewal] max_per_minute fleet-wide, skipping stations with a renewal in flight), the operator's
REST and CLI triggers, and the revocation of superseded certificates once their successor has
been in use for [delivery] revoke_superseded_after_hours. Time is the workers' clock, moved by
the test.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from certificate_support import RENEWAL, Clock, certificate_csms, requests, with_policy
from chargeca_process import chargeca
from cli_support import acme_init, cli_env, copy_init  # noqa: F401 - fixture
from cryptography import x509
from csr_factory import openssl_csr
from sqlalchemy import event

from api.core.audit import Actor
from api.csms.security.authority_service import crl_der
from api.csms.security.service import request_certificate_renewal
from storage.certificates import CertStatus, IssuedCertificate
from storage.types import utcnow


async def _offline_with_certificate(harness, station_id: str, directory, **options) -> None:
    """A station whose certificate is in use (it connected with it once) and that is offline now,
    so what is queued for it stays queued."""
    station = await harness.sp3_station(station_id, directory, **options)
    await station.close()
    await harness.until(lambda: harness.csms.gateway.session(station_id) is None)


# --- the scheduler -----------------------------------------------------------------------------


async def test_the_scheduler_renews_only_expiring_certificates_at_the_fleet_pace(sqlite_pki, tmp_path):
    clock = Clock()
    pki = with_policy(sqlite_pki, renewal={"window_days": 30, "max_per_minute": 2})
    async with certificate_csms(pki, clock=clock) as harness:
        long_ago = utcnow() - timedelta(days=355)  # 365-day certificates: 10 days left
        soon = await harness.sp3_station("EXPIRES-10D", tmp_path, issued_at=long_ago)
        later = await harness.sp3_station("EXPIRES-20D", tmp_path, issued_at=long_ago + timedelta(days=10))
        fresh = await harness.sp3_station("FRESH", tmp_path)
        await _offline_with_certificate(harness, "BUSY", tmp_path, issued_at=long_ago)
        request_certificate_renewal(harness.csms.ctx, Actor("cli:test"), "BUSY")

        read = []   # the pass runs every minute: it reads the stations in the window, not the fleet
        on_load = lambda certificate, _context: read.append(certificate.station_id)  # noqa: E731
        event.listen(IssuedCertificate, "load", on_load)
        try:
            done = await harness.workers.run_pass()
        finally:
            event.remove(IssuedCertificate, "load", on_load)

        assert set(read) == {"EXPIRES-10D", "EXPIRES-20D", "BUSY"}
        assert [q.station_id for q in done.renewals.queued] == ["EXPIRES-10D", "EXPIRES-20D"]
        assert [s.station_id for s in done.renewals.skipped] == ["BUSY"]  # a renewal already waits
        first, second = done.renewals.queued
        assert (first.next_attempt_at, second.next_attempt_at) == (clock.now, clock.now + timedelta(seconds=30))
        await harness.settled()
        assert requests(soon, "TriggerMessage") == [{"requestedMessage": "SignChargingStationCertificate"}]
        assert requests(later, "TriggerMessage") == []  # its slot is 30 s later (2 per minute)
        clock.advance(seconds=29)
        await harness.settled()
        assert requests(later, "TriggerMessage") == []
        clock.advance(seconds=1)
        await harness.until(lambda: requests(later, "TriggerMessage"))
        assert requests(fresh, "TriggerMessage") == []

        # The next pass finds both in flight: nothing is asked twice.
        again = await harness.workers.run_pass()
        assert again.renewals.queued == [] and {s.station_id for s in again.renewals.skipped} == {
            "EXPIRES-10D", "EXPIRES-20D", "BUSY"}
        (entry,) = harness.audit("certificate.renewal.schedule")
        assert entry.actor == "system:renewal-scheduler" and '"queued":2' in entry.detail
        assert all(row.created_by == "system:renewal-scheduler" for row in harness.rows("EXPIRES-10D", RENEWAL))


# --- retiring superseded certificates -------------------------------------------------------------


async def _renewed_but_not_yet_used(harness, station) -> str:
    """The station renews; the CSMS delivered the new certificate; it still uses the old one."""
    old = harness.csms.gateway.session(station.identity).connection.client_certificate_serial
    assert await station.sign_certificate() == {"status": "Accepted"}
    await harness.until(lambda: requests(station, "CertificateSigned") and harness.audit("certificate.deliver"))
    return old


async def _reconnects_with_the_new_one(harness, station) -> None:
    await station.reconnect()
    await harness.csms.connected(station.identity)


def _status(harness, station_id: str, serial: str) -> str:
    return next(c for c in harness.certificates(station_id) if c.serial_hex == serial).status


async def test_a_superseded_certificate_is_revoked_once_its_successor_was_used_for_the_grace_period(
        sqlite_pki, tmp_path):
    clock = Clock()
    async with certificate_csms(sqlite_pki, clock=clock) as harness:
        assert sqlite_pki.ctx.policy.delivery.revoke_superseded_after_hours == 24  # the default
        station = await harness.sp3_station("GRACE-1", tmp_path)
        old = await _renewed_but_not_yet_used(harness, station)

        # Never while the station may still need it: its successor is not in use yet.
        clock.advance(days=30)
        assert (await harness.workers.run_pass()).revoked == []
        assert _status(harness, "GRACE-1", old) == CertStatus.SUPERSEDED

        await _reconnects_with_the_new_one(harness, station)
        new = next(c for c in harness.certificates("GRACE-1") if c.status == CertStatus.ACTIVE)
        clock.now = new.activated_at + timedelta(hours=23, minutes=59)
        assert (await harness.workers.run_pass()).revoked == []
        clock.now = new.activated_at + timedelta(hours=24)
        assert (await harness.workers.run_pass()).revoked == [old]

        record = next(c for c in harness.certificates("GRACE-1") if c.serial_hex == old)
        assert (record.status, record.revocation_reason) == (CertStatus.REVOKED, "superseded")
        crl = x509.load_der_x509_crl(crl_der(harness.csms.ctx))
        assert crl.get_revoked_certificate_by_serial_number(int(old, 16)) is not None
        (entry,) = [e for e in harness.audit("certificate.revoke") if e.target == old]
        assert entry.actor == "system:certificate-lifecycle" and '"reason":"superseded"' in entry.detail
        assert (await harness.workers.run_pass()).revoked == []  # once


async def test_a_grace_period_of_zero_never_revokes(sqlite_pki, tmp_path):
    clock = Clock()
    pki = with_policy(sqlite_pki, delivery={"revoke_superseded_after_hours": 0})
    async with certificate_csms(pki, clock=clock) as harness:
        station = await harness.sp3_station("GRACE-0", tmp_path)
        old = await _renewed_but_not_yet_used(harness, station)
        await _reconnects_with_the_new_one(harness, station)
        clock.advance(days=300)
        assert (await harness.workers.run_pass()).revoked == []
        assert _status(harness, "GRACE-0", old) == CertStatus.SUPERSEDED


# --- the operator: REST ----------------------------------------------------------------------------


async def test_an_operator_renews_one_station_over_rest(sqlite_pki, tmp_path):
    async with certificate_csms(sqlite_pki) as harness:
        await _offline_with_certificate(harness, "ONE-1", tmp_path)
        first = await harness.request_renewal("ONE-1")
        assert first.status_code == 202, first.text
        body = first.json()
        assert (body["station_id"], body["status"], body["already_waiting"]) == ("ONE-1", "pending", False)
        again = await harness.request_renewal("ONE-1")
        assert again.json()["call_id"] == body["call_id"] and again.json()["already_waiting"] is True
        job = await harness.csms.rest.get(body["url"], headers=harness.csms.headers("auditor"))
        assert job.status_code == 200 and job.json()["action"] == "TriggerMessage"

        v2g = await harness.request_renewal("ONE-1", certificate_type="V2GCertificate")
        assert v2g.json()["already_waiting"] is True  # one renewal request per station at a time
        missing = await harness.request_renewal("NO-SUCH")
        assert missing.status_code == 404
        outcomes = [(e.target, e.outcome) for e in harness.audit("certificate.renewal.request")]
        assert outcomes == [("ONE-1", "success")] * 3 + [("NO-SUCH", "refused")]



async def test_the_requested_renewal_reaches_the_station_when_it_connects(sqlite_pki, tmp_path):
    async with certificate_csms(sqlite_pki) as harness:
        station = harness.sp3_simulator("LATER-1", tmp_path)
        assert (await harness.request_renewal("LATER-1")).status_code == 202
        await station.connect()
        await harness.settled()
        assert requests(station, "TriggerMessage") == []  # not before its BootNotification is answered
        assert (await station.boot())["status"] == "Accepted"
        await harness.until(lambda: requests(station, "CertificateSigned"))
        assert requests(station, "TriggerMessage") == [{"requestedMessage": "SignChargingStationCertificate"}]


async def test_bulk_renewals_over_rest_by_filter(sqlite_pki, tmp_path):
    async with certificate_csms(sqlite_pki) as harness:
        csms = harness.csms
        for station_id in ("BULK-1", "BULK-2"):
            await _offline_with_certificate(harness, station_id, tmp_path)

        def post(role: str, **body):
            return csms.rest.post("/api/v1/certificate-renewals", json=body, headers=csms.headers(role))

        none_due = await post("operator", expiring_within_days=30)
        assert none_due.status_code == 202 and none_due.json() == {
            "filter": "expiring_within_days=30", "queued": [], "skipped": []}
        by_issuer = await post("operator", issuer_id=sqlite_pki.hierarchy.station_ca.id)
        assert by_issuer.status_code == 202
        assert [q["station_id"] for q in by_issuer.json()["queued"]] == ["BULK-1", "BULK-2"]
        assert by_issuer.json()["queued"][0]["url"].startswith("/api/v1/stations/BULK-1/calls/")
        everything = await post("officer", all=True)
        assert everything.json()["queued"] == [] and len(everything.json()["skipped"]) == 2  # in flight

        denied = await post("operator", all=True)
        assert denied.status_code == 403 and denied.json()["required_roles"] == ["officer"]
        assert (await post("operator", issuer_id="no-such-ca")).status_code == 404
        for body in ({}, {"all": True, "expiring_within_days": 3}):
            invalid = await post("officer", **body)
            assert invalid.status_code == 422 and invalid.json()["rule"] == "renewal.filter"
        assert [e.outcome for e in harness.audit("api.denied")] == ["refused"]
        assert [(e.target, e.outcome) for e in harness.audit("certificate.renewal.request")] == [
            ("expiring_within_days=30", "success"), (f"issuer_id={sqlite_pki.hierarchy.station_ca.id}", "success"),
            ("all", "success"), ("issuer_id=no-such-ca", "refused")]


# --- the operator: CLI ----------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path, acme_init):  # noqa: F811
    copy_init(acme_init, tmp_path / "data")  # as `chargeca init --org "Acme CSO" --fqdn csms.acme.test` left it
    env = cli_env(tmp_path / "data")

    def run(*args: str):
        return chargeca(*args, env=env, cwd=tmp_path)
    return run


def test_the_cli_queues_renewals_for_the_running_service(cli, tmp_path):
    assert cli("station", "add", "CP-1", "--security-profile", "3").returncode == 0
    csr = tmp_path / "cp1.csr"
    csr.write_text(openssl_csr(tmp_path, "CP-1", "Acme CSO", "ec-p256"))
    assert cli("cert", "sign", "--station", "CP-1", "--csr", str(csr)).returncode == 0

    queued = cli("cert", "renew", "--station", "CP-1")
    assert queued.returncode == 0, queued.stderr
    assert queued.stdout.startswith("CP-1\tcall ") and queued.stdout.strip().endswith("queued")
    assert cli("cert", "renew", "--station", "CP-1").stdout.strip().endswith("already waiting")
    # Bulk filters look at certificates in use; this one was never used (the station never connected).
    bulk = cli("cert", "renew", "--expiring-within-days", "400")
    assert bulk.returncode == 0 and "0 queued, 0 skipped (expiring_within_days=400)" in bulk.stderr
    unknown = cli("cert", "renew", "--issuer", "no-such-ca")
    assert unknown.returncode == 1 and "no certificate was issued by 'no-such-ca'" in unknown.stderr
    assert cli("cert", "renew", "--station", "CP-1", "--all").returncode == 2  # exactly one target
    audit = cli("audit", "list").stdout
    assert audit.count("certificate.renewal.request") == 4
