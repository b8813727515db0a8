"""Accepted SignCertificate requests signed in batches (api/csms/security/certificate_batches.py):
every certificate stored with its delivery and audited, the audit chain whole, a refused CSR failed
by name with its alert while the rest are signed, and a process killed mid-batch loses nothing
acknowledged — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import textwrap
import weakref
from pathlib import Path

import pytest
from conftest import make_pki
from csr_factory import make_csr
from fake_connection import FakeStation, register
from sqlmodel import select

from api.core.audit import Actor
from api.csms.security import certificate_batches
from api.csms.security.certificate_batches import finish_accepted, sign_batch
from api.operations.stations import add_station
from storage import audit
from storage.audit import AuditEntry
from storage.certificate_requests import CertificateRequest, RequestStatus
from storage.certificates import CertKind, IssuedCertificate
from storage.db import session_scope
from storage.outbox import OutboundCall

ACTOR = Actor("test:officer")
ROOT = Path(__file__).resolve().parents[3]


def _accepted(ctx, stations: list[str], cn=None) -> list[int]:
    for station in stations:
        add_station(ctx, ACTOR, station, security_profile=3)
    with session_scope(ctx.engine) as session:
        rows = [CertificateRequest(station_id=s, certificate_type="ChargingStationCertificate",
                                   csr_pem=make_csr(cn(s) if cn else s)[0]) for s in stations]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows]


def _state(ctx):
    with session_scope(ctx.engine) as session:
        requests = {r.station_id: r for r in session.exec(select(CertificateRequest))}
        certificates = {c.station_id: c for c in session.exec(
            select(IssuedCertificate).where(IssuedCertificate.kind == CertKind.STATION))}
        signs = [json.loads(e.detail) for e in session.exec(
            select(AuditEntry).where(AuditEntry.action == "certificate.sign"))]
        chain = audit.verify_chain(session)
        for request in requests.values():
            session.expunge(request)
        return requests, certificates, signs, chain


def test_a_batch_stores_and_audits_every_certificate_and_fails_a_bad_csr_by_name(pki):
    ids = _accepted(pki.ctx, [f"CP-{i}" for i in range(8)], cn=lambda s: "CP-0" if s == "CP-5" else s)
    result = sign_batch(pki.ctx, ids)

    assert set(result.failed) == {ids[5]} and len(result.deliveries) == 7
    requests, certificates, signs, chain = _state(pki.ctx)
    assert chain.ok, chain
    assert requests["CP-5"].status == RequestStatus.FAILED and requests["CP-5"].error.startswith("csr.subject.cn")
    assert "CP-5" not in certificates
    with session_scope(pki.ctx.engine) as session:
        for station in (f"CP-{i}" for i in range(8) if i != 5):
            request = requests[station]
            delivery = session.get(OutboundCall, request.delivery_id)
            assert request.status == RequestStatus.SIGNED
            assert delivery.reference == str(certificates[station].id)
            assert json.loads(delivery.payload)["certificateChain"].startswith(certificates[station].certificate_pem)
        alerts = session.exec(select(AuditEntry).where(AuditEntry.action == "certificate.alert")).all()
    assert [a.target for a in alerts] == ["CP-5"] and json.loads(alerts[0].detail)["rule"] == "csr.subject.cn"
    assert sorted((d["request"], d["serial"]) for d in signs) == sorted(
        (requests[s].id, certificates[s].serial_hex) for s in certificates)


_KILLED_MID_BATCH = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from api.core.context import open_context
    from api.core.settings import load_settings
    from api.csms.security import certificate_batches
    from storage import audit

    appended = audit.append_many
    def append_then_die(session, records):
        appended(session, records)   # certificates, deliveries and entries written, not committed
        os.kill(os.getpid(), signal.SIGKILL)
    audit.append_many = append_then_die
    ctx = open_context(load_settings({data!r}), run_migrations=False)
    certificate_batches.sign_batch(ctx, {ids!r})
""")


@pytest.mark.slow  # it starts a process and kills it (tests/conftest.py: such tests are slow)
async def test_a_process_killed_mid_batch_loses_nothing_acknowledged(pki, tmp_path):
    ids = _accepted(pki.ctx, [f"CP-{i}" for i in range(6)])
    first = sign_batch(pki.ctx, ids[:3])   # committed: what was acknowledged
    killed = subprocess.run([sys.executable, "-c", _KILLED_MID_BATCH.format(
        root=str(ROOT), data=str(tmp_path / "data"), ids=ids[3:])], capture_output=True, text=True, timeout=60)
    assert killed.returncode == -9, killed.stderr

    requests, certificates, signs, chain = _state(pki.ctx)
    assert chain.ok, chain
    assert {s: requests[s].delivery_id for s in ("CP-0", "CP-1", "CP-2")} == {
        f"CP-{i}": first.deliveries[ids[i]] for i in range(3)}
    assert sorted(certificates) == ["CP-0", "CP-1", "CP-2"] and len(signs) == 3
    assert [requests[f"CP-{i}"].status for i in range(3, 6)] == [RequestStatus.ACCEPTED] * 3

    # The next signer (this process's unsigned-request worker) signs what the dead one left.
    await finish_accepted(pki.ctx)
    requests, certificates, signs, chain = _state(pki.ctx)
    assert chain.ok, chain
    assert sorted(certificates) == [f"CP-{i}" for i in range(6)] and len(signs) == 6
    assert {r.status for r in requests.values()} == {RequestStatus.SIGNED}


async def test_a_storm_of_sign_certificate_is_signed_in_batches(sqlite_pki, monkeypatch):
    batches = []
    signed = certificate_batches.sign_batch
    monkeypatch.setattr(certificate_batches, "sign_batch",
                        lambda ctx, ids: batches.append(len(ids)) or signed(ctx, ids))
    names = [f"CS-{i}" for i in range(12)]
    stations = []
    for name in names:
        register(sqlite_pki.ctx, name)
        stations.append(station := FakeStation(sqlite_pki.ctx, name))
        answer = await station.send("SignCertificate", {"csr": make_csr(name)[0],
                                                        "certificateType": "ChargingStationCertificate"})
        assert answer == {"status": "Accepted"}
    # Every answer is out before any signing, as when a fleet answers a rollover's triggers at once.
    await asyncio.gather(*(station.run_follow_ups() for station in stations))

    _, certificates, signs, chain = _state(sqlite_pki.ctx)
    assert sorted(certificates) == sorted(names) and len(signs) == 12 and chain.ok
    assert sum(batches) == 12 and len(batches) < 12 and max(batches) > 1


async def test_a_dropped_context_is_not_kept_by_the_signing_queue(tmp_path, monkeypatch):
    """The queue of ``sign_accepted`` lives as long as the process; a context it signed for must
    still be freed once its owner drops it (its engine, its keys)."""
    made = make_pki(tmp_path, f"sqlite:///{tmp_path / 'chargeca.db'}", monkeypatch)
    (request_id,) = _accepted(made.ctx, ["CP-GONE"])
    assert await certificate_batches.sign_accepted(made.ctx, request_id) is not None
    gone = weakref.ref(made.ctx)
    made.ctx.engine.dispose()
    del made
    gc.collect()
    assert gone() is None
