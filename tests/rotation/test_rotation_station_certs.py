"""Station certificate rotation (scripts/rotate_station_certs.py, POST /api/v1/rotations/station-certificates)
and the dry runs of all three rotations, with simulated stations on profile 3 over real TLS."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from rotation_support import authority, certificate_of, make_fleet, outcomes, running_service
from sqlmodel import SQLModel, select

from api.core.audit import run_in_session
from storage.certificates import CaRole, CertStatus
from storage.types import utcnow


def _serial(service, station_id: str) -> str:
    return service.gateway.session(station_id).connection.client_certificate_serial


def _database(ctx) -> dict[str, list[str]]:
    """Every row of every table, to compare before and after."""
    def dump(session):
        return {table.name: sorted(repr(tuple(row)) for row in session.execute(select(table)))
                for table in SQLModel.metadata.sorted_tables}
    return run_in_session(ctx, dump)


async def test_dry_runs_send_nothing_and_change_nothing(sqlite_pki, tmp_path):
    async with running_service(sqlite_pki) as service:
        fleet = await make_fleet(service, sqlite_pki, tmp_path, 3, prefix="DRY", additional_root_check={1})
        try:
            before, received = _database(service.ctx), {s: len(fleet[s].station.received) for s in fleet.ids}
            serving = [c.serial_hex for c in service.listeners.tls.material.server_certificates]

            certificates = await service.rotate("station-certificates", dry_run=True, all=True)
            server = await service.rotate("server-certificate", dry_run=True)
            root = await service.rotate("csms-root", dry_run=True, begin=True)

            assert outcomes(certificates, "renew") == {s: "planned" for s in fleet.ids}
            assert all("TriggerMessage SignChargingStationCertificate" in p["detail"]
                       for p in certificates["progress"] if p["step"] == "renew")
            assert outcomes(server, "issue") == {None: "planned"} and outcomes(server, "reload") == {None: "planned"}
            assert outcomes(root, "stage") == {None: "planned"}
            assert outcomes(root, "install-root") == {s: "planned" for s in fleet.ids}
            assert not any(r["complete"] for r in (certificates, server, root))

            assert _database(service.ctx) == before
            assert {s: len(fleet[s].station.received) for s in fleet.ids} == received
            assert [c.serial_hex for c in service.listeners.tls.material.server_certificates] == serving
        finally:
            await fleet.close()


async def test_an_offline_station_is_pending_and_a_rerun_finishes_it(sqlite_pki, tmp_path):
    async with running_service(sqlite_pki) as service:
        # Certificates that expire in about five days.
        fleet = await make_fleet(service, sqlite_pki, tmp_path, 3, prefix="EXP",
                                 issued_at=utcnow() - timedelta(days=360))
        try:
            fleet.set_online(["EXP-02"], False)
            await fleet.until_offline(["EXP-02"])
            old = {s: _serial(service, s) for s in ("EXP-00", "EXP-01")}

            first = await service.rotate("station-certificates", role="operator", expiring_within_days=30,
                                         max_seconds=30)
            assert outcomes(first, "renew") == {"EXP-00": "done", "EXP-01": "done", "EXP-02": "pending"}
            assert first["pending"] == ["EXP-02"] and not first["complete"]
            assert "offline" in next(p["detail"] for p in first["progress"] if p["station"] == "EXP-02")
            for station_id in ("EXP-00", "EXP-01"):
                # Connected now with the new certificate, which is active and far from expiring.
                await fleet.until_connected([station_id])
                new = certificate_of(service.ctx, _serial(service, station_id))
                assert new.serial_hex != old[station_id] and new.status == CertStatus.ACTIVE
                assert new.not_after > utcnow() + timedelta(days=300)
                assert certificate_of(service.ctx, old[station_id]).status == CertStatus.SUPERSEDED

            fleet.set_online(["EXP-02"])
            await fleet.until_connected(["EXP-02"])
            second = await service.rotate("station-certificates", role="operator", expiring_within_days=30,
                                          max_seconds=30)
            assert outcomes(second, "renew") == {"EXP-02": "done"} and second["complete"]
            third = await service.rotate("station-certificates", role="operator", expiring_within_days=30)
            assert outcomes(third, "renew") == {} and third["complete"]
            assert fleet.refusals() == {}
        finally:
            await fleet.close()


async def test_filters_that_could_never_finish_are_refused(sqlite_pki, tmp_path):
    async with running_service(sqlite_pki) as service:
        active = authority(service.ctx, CaRole.STATION, 1).id
        for body, status, rule in (
                ({"issuer_id": active}, 409, "rotation.issuer_active"),
                ({"expiring_within_days": 400}, 409, "rotation.window"),
                ({"expiring_within_days": 5, "all": True}, 422, "rotation.filter")):
            answer = await service.rest.post("/api/v1/rotations/station-certificates", json=body,
                                             headers=service.headers())
            assert (answer.status_code, answer.json().get("rule")) == (status, rule), answer.text
        # Everything at once is the answer to a compromise: an officer's decision.
        answer = await service.rest.post("/api/v1/rotations/station-certificates", json={"all": True},
                                         headers=service.headers("operator"))
        assert answer.status_code == 403 and answer.json()["required_roles"] == ["officer"]


async def test_a_pass_ends_in_time_and_says_what_it_was_waiting_for(sqlite_pki, tmp_path):
    async with running_service(sqlite_pki) as service:
        fleet = await make_fleet(service, sqlite_pki, tmp_path, 1, prefix="SLOW")
        try:
            # It takes the trigger but never sends its CSR.
            fleet["SLOW-00"].station.handlers["TriggerMessage"] = lambda _station, _payload: {"status": "Accepted"}
            started = asyncio.get_running_loop().time()
            report = await service.rotate("station-certificates", all=True, max_seconds=2)
            assert asyncio.get_running_loop().time() - started < 6
            (record,) = [p for p in report["progress"] if p["step"] == "renew"]
            assert record["outcome"] == "pending" and "ran out of time" in record["detail"]
            assert "CSR is awaited" in record["detail"]
            # The re-run continues the same rotation (same instant) and does not ask again.
            again = await service.rotate("station-certificates", all=True, max_seconds=1,
                                         issued_before=report["parameters"]["issued_before"])
            assert outcomes(again, "renew") == {"SLOW-00": "pending"}
            assert [a for a, _ in fleet["SLOW-00"].station.received].count("TriggerMessage") == 1
        finally:
            await fleet.close()
