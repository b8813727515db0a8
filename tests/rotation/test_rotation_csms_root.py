"""CSMS root rollover end to end (scripts/rotate_csms_root.py, POST /api/v1/rotations/csms-root):
simulated stations on profile 3 over real TLS, whose trust is what they have installed, some with
AdditionalRootCertificateCheck=true, some offline for part of the run; and a rollover interrupted
mid-way, the service restarted over the same database and data directory, then finished."""

from __future__ import annotations

import asyncio
import json

from cryptography import x509
from rotation_support import (
    Fleet,
    Service,
    authority,
    certificate_of,
    make_fleet,
    outcomes,
    rows,
    running_service,
    security_events,
)
from sqlmodel import select

from api.core.audit import run_in_session
from pki.rollover import RolloverStatus, rollover_status, stations_on_generation
from simulator.certificate_store import CSMS_ROOT
from storage.audit import AuditEntry
from storage.certificates import CaRole, CertificateAuthority, IssuedCertificate

FLEET = 20
CHECKING = {1, 4, 7, 10, 13, 16}                  # AdditionalRootCertificateCheck=true
AWAY_AT_START = ["ROT-17", "ROT-18", "ROT-19"]    # offline while the new root is installed
AWAY_LATER = ["ROT-04", "ROT-05"]                 # offline while certificates are re-issued (ROT-04 checks)


def _certificate(authority_row: CertificateAuthority) -> x509.Certificate:
    return x509.load_pem_x509_certificate(authority_row.certificate_pem.encode())


async def _inventory(service: Service, station_id: str) -> list[dict]:
    answer = await service.rest.get(f"/api/v1/stations/{station_id}/installed-certificates",
                                    headers=service.headers("auditor"))
    assert answer.status_code == 200, answer.text
    return [c for c in answer.json()["certificates"] if c["certificate_type"] == CSMS_ROOT]


def _status(service: Service) -> RolloverStatus:
    return run_in_session(service.ctx, rollover_status)


async def _assert_on_generation_2(service: Service, fleet: Fleet) -> None:
    """What an operator checks when the rollover is over, station by station."""
    ctx = service.ctx
    root_1, root_2 = (_certificate(authority(ctx, CaRole.ROOT, g)) for g in (1, 2))
    station_ca_2, server_ca_2 = authority(ctx, CaRole.STATION, 2), authority(ctx, CaRole.SERVER, 2)
    server_ca_2_certificate = _certificate(server_ca_2)
    server_ca_2_certificate.verify_directly_issued_by(root_2)
    await fleet.until_connected(fleet.ids)
    for station_id in fleet.ids:
        station = fleet[station_id].station
        # Its client certificate, as presented in its current handshake, was issued under G2 ...
        serial = service.gateway.session(station_id).connection.client_certificate_serial
        assert certificate_of(ctx, serial).issuer_id == station_ca_2.id, station_id
        # ... and the server certificate it verified in that handshake chains to G2's root.
        seen = station.server_certificate
        assert seen.issuer == server_ca_2_certificate.subject, station_id
        seen.verify_directly_issued_by(server_ca_2_certificate)
        # The old root is gone from the station and from what the CSMS knows of it.
        held = station.certificates.certificates(CSMS_ROOT)
        assert root_1 not in held and any(c.public_key() == root_2.public_key() for c in held), station_id
        generations = [c["csms_generation"] for c in await _inventory(service, station_id)]
        assert generations == [2], (station_id, generations)


def _no_station_was_ever_refused(service: Service, fleet: Fleet) -> None:
    assert fleet.refusals() == {}                                  # every TLS handshake and upgrade succeeded
    assert [(e.station_id, e.type) for e in security_events(service.ctx) if e.source == "csms"] == []


async def test_root_rollover_over_a_fleet_with_stations_coming_and_going(sqlite_pki, tmp_path):
    async with running_service(sqlite_pki) as service:
        fleet = await make_fleet(service, sqlite_pki, tmp_path, FLEET, additional_root_check=CHECKING)
        try:
            everyone = fleet.ids
            fleet.set_online(AWAY_AT_START, False)
            await fleet.until_offline(AWAY_AT_START)
            online = [s for s in everyone if s not in AWAY_AT_START]

            # Pass 1: stage G2 and install its root wherever possible; no switch while anyone lacks it.
            first = await service.rotate("csms-root", begin=True, max_seconds=60)
            assert outcomes(first, "stage") == {None: "done"}
            assert outcomes(first, "install-root") == {s: "pending" if s in AWAY_AT_START else "done"
                                                       for s in everyone}
            assert outcomes(first, "switch") == {None: "pending"} and first["phase"] == "install"
            assert first["pending"] == AWAY_AT_START
            root_1, root_2 = (_certificate(authority(service.ctx, CaRole.ROOT, g)) for g in (1, 2))
            for station_id in online:
                (new,) = [c for c in fleet[station_id].station.certificates.certificates(CSMS_ROOT) if c != root_1]
                assert new.public_key() == root_2.public_key()
                # M05: a checking station got G2's root signed by the G1 root it holds.
                assert new.issuer == (root_1.subject if int(station_id[-2:]) in CHECKING else root_2.subject)
            served = rows(service.ctx, select(IssuedCertificate).where(IssuedCertificate.kind == "server",
                                                                       IssuedCertificate.status == "active"))
            assert {r.issuer_id for r in served} == {authority(service.ctx, CaRole.SERVER, 1).id}

            # Stations come back, others leave.
            fleet.set_online(AWAY_AT_START)
            fleet.set_online(AWAY_LATER, False)
            await fleet.until_connected(AWAY_AT_START)
            await fleet.until_offline(AWAY_LATER)
            status = (await service.rest.get("/api/v1/rotations/csms-root", headers=service.headers("auditor"))).json()
            assert status["phase"] == "install" and (status["old_generation"], status["new_generation"]) == (1, 2)
            assert {s["station"] for s in status["stations"] if s["phase"] == "install"} == set(AWAY_AT_START)

            # Pass 2: the rest get the root, the CSMS switches, certificates are re-issued and the
            # old root deleted wherever the station is proven on G2; G1 stays for the absent ones.
            second = await service.rotate("csms-root", max_seconds=90)
            assert outcomes(second, "install-root") == {s: "done" if s in AWAY_AT_START else "already"
                                                        for s in everyone}
            assert outcomes(second, "switch") == {None: "done"} and outcomes(second, "reload") == {None: "done"}
            assert outcomes(second, "reissue") == {s: "pending" if s in AWAY_LATER else "done" for s in everyone}
            assert outcomes(second, "delete-old-root") == {s: "done" for s in everyone if s not in AWAY_LATER}
            assert outcomes(second, "retire") == {None: "pending"} and second["pending"] == AWAY_LATER

            # Back with their G1 certificates, verifying the G2 server certificate with the G2
            # root installed in pass 1: let in, as G1 is still trusted.
            fleet.set_online(AWAY_LATER)
            await fleet.until_connected(AWAY_LATER)
            third = await service.rotate("csms-root", max_seconds=60)
            assert outcomes(third, "reissue") == {s: "done" if s in AWAY_LATER else "already" for s in everyone}
            assert outcomes(third, "delete-old-root") == {s: "done" if s in AWAY_LATER else "already"
                                                          for s in everyone}
            assert outcomes(third, "retire") == {None: "done"}
            assert third["complete"] and third["phase"] == "done" and third["pending"] == []

            await _assert_on_generation_2(service, fleet)
            states = {g.generation: g.state for g in _status(service).generations}
            assert states == {1: "retired", 2: "active"}
            _no_station_was_ever_refused(service, fleet)
            # A further pass has nothing to continue.
            again = await service.rest.post("/api/v1/rotations/csms-root", json={}, headers=service.headers())
            assert again.status_code == 409 and again.json()["rule"] == "rollover.not_started"
        finally:
            await fleet.close()


async def _generation_2_switched(service: Service) -> None:
    async with asyncio.timeout(60):
        while True:
            status = _status(service)
            if status.active == 2 and any(g.generation == 2 and g.serves_server_certificates
                                          for g in status.generations):
                return
            await asyncio.sleep(0.02)


async def test_an_interrupted_rollover_resumes_after_a_restart(sqlite_pki, tmp_path):
    async with running_service(sqlite_pki) as service:
        fleet = await make_fleet(service, sqlite_pki, tmp_path, 6, prefix="INT", additional_root_check={1, 4})
        try:
            # Interrupted right after the switch, while stations are being asked for new CSRs.
            running = asyncio.create_task(service.rotate("csms-root", begin=True, max_seconds=60))
            await _generation_2_switched(service)
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await service.stop()
            status = _status(service)
            assert {g.generation: g.state for g in status.generations} == {1: "trusted", 2: "active"}
            still_on_1 = run_in_session(service.ctx, lambda s: stations_on_generation(s, 1))
            assert still_on_1, "the interruption came after the re-issue, not in the middle of it"
            # Restarted once the stations have seen the service go away (a start is quick enough
            # now that none might have tried meanwhile).
            async with asyncio.timeout(10):
                while not any(s.unreachable for s in fleet.stations.values()):
                    await asyncio.sleep(0.05)

            # A new gateway, listeners, workers and REST app over the same database and data directory.
            await service.start()
            await fleet.until_connected(fleet.ids)
            resumed = await service.rotate("csms-root", max_seconds=60)
            assert outcomes(resumed, "stage") == {None: "already"}
            assert outcomes(resumed, "switch") == {None: "already"}
            assert outcomes(resumed, "retire") == {None: "done"} and resumed["complete"]

            await _assert_on_generation_2(service, fleet)
            _no_station_was_ever_refused(service, fleet)
        finally:
            await fleet.close()


async def test_rollover_refusals_say_why(sqlite_pki, tmp_path):
    async with running_service(sqlite_pki) as service:
        for body, role, status, rule in (
                ({}, "officer", 409, "rollover.not_started"),
                ({"begin": True, "force_retire": True}, "officer", 409, "rollover.force_reason"),
                ({"force_retire": True, "reason": "   "}, "officer", 409, "rollover.force_reason"),
                ({"begin": True}, "operator", 403, None)):
            answer = await service.rest.post("/api/v1/rotations/csms-root", json=body, headers=service.headers(role))
            assert (answer.status_code, answer.json().get("rule")) == (status, rule), answer.text
        assert {g.generation for g in _status(service).generations} == {1}
        # The refused overrides are in the audit log, with their rule, like the ones that went through.
        refused = rows(service.ctx, select(AuditEntry).where(AuditEntry.action == "ca.rollover.retire"))
        assert [(e.outcome, json.loads(e.detail)["rule"]) for e in refused] == [
            ("refused", "rollover.force_reason")] * 2


async def test_the_old_generation_is_retired_past_a_dependent_station_only_by_force(sqlite_pki, tmp_path):
    async with running_service(sqlite_pki) as service:
        fleet = await make_fleet(service, sqlite_pki, tmp_path, 2, prefix="GONE")
        try:
            # GONE-01 gets the new root, then leaves for good while certificates are re-issued.
            fleet.set_online(["GONE-00"], False)
            await fleet.until_offline(["GONE-00"])
            first = await service.rotate("csms-root", begin=True, max_seconds=30)
            assert outcomes(first, "install-root") == {"GONE-00": "pending", "GONE-01": "done"}
            fleet.set_online(["GONE-00"])
            fleet.set_online(["GONE-01"], False)
            await fleet.until_connected(["GONE-00"])
            await fleet.until_offline(["GONE-01"])
            second = await service.rotate("csms-root", max_seconds=30)
            assert outcomes(second, "reissue") == {"GONE-00": "done", "GONE-01": "pending"}
            assert outcomes(second, "retire") == {None: "pending"} and second["pending"] == ["GONE-01"]
            assert "GONE-01" in next(p["detail"] for p in second["progress"] if p["step"] == "retire")

            forced = await service.rotate("csms-root", force_retire=True, reason="GONE-01 decommissioned",
                                          max_seconds=10)
            retire = next(p for p in forced["progress"] if p["step"] == "retire")
            assert retire["outcome"] == "done" and "GONE-01" in retire["detail"]
            assert forced["complete"] and {g.generation: g.state for g in _status(service).generations} == {
                1: "retired", 2: "active"}
            (entry,) = rows(service.ctx, select(AuditEntry).where(AuditEntry.action == "ca.rollover.retire"))
            assert entry.outcome == "success" and "GONE-01 decommissioned" in entry.detail and "GONE-01" in entry.detail
        finally:
            await fleet.close()
