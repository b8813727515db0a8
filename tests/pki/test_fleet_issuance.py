"""The fleet engine (pki/fleet_issuance.py): a batch issues the same certificates as one at a time
would, refuses a bad CSR by name and issues the others — on SQLite and PostgreSQL, with CA keys in
files and in a SoftHSM2 token."""

from __future__ import annotations

from conftest import both_keystores
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from csr_factory import make_csr, new_key

from api.core.audit import Actor
from api.csms.security.authority_service import sign_csr
from api.operations.stations import add_station
from pki.fleet_issuance import StationCsr, issue_station_batch
from pki.lint import errors, lint_certificate
from storage.certificates import CertStatus, IssuedCertificate
from storage.db import session_scope

ACTOR = Actor("test:officer")
keystore_kind = both_keystores()


def _batch(pki, csrs: list[StationCsr]):
    with session_scope(pki.ctx.engine) as session:
        return issue_station_batch(session, pki.ctx.keystore, csrs, policy=pki.ctx.policy, urls=pki.ctx.urls)


def _profile(certificate: x509.Certificate) -> list[tuple]:
    """The extensions as issued, with the key-derived SKI reduced to how it is derived."""
    out = []
    for ext in certificate.extensions:
        value = ext.value
        if isinstance(value, x509.SubjectKeyIdentifier):
            value = value == x509.SubjectKeyIdentifier.from_public_key(certificate.public_key())
        out.append((ext.oid.dotted_string, ext.critical, value))
    return out


def test_a_batch_issues_what_one_at_a_time_issues(pki):
    for station in ("CP-ONE", *(f"CP-{i:03d}" for i in range(12))):
        add_station(pki.ctx, ACTOR, station, security_profile=3)
    single = sign_csr(pki.ctx, ACTOR, "CP-ONE", make_csr("CP-ONE")[0]).certificate
    # CA=true requested in every CSR: never copied.
    outcome = _batch(pki, [StationCsr(f"CP-{i:03d}", make_csr(f"CP-{i:03d}", ca=True)[0]) for i in range(12)])

    assert outcome.refused == {}
    station_ca = pki.hierarchy.station_ca.certificate
    serials = set()
    for station, issued in outcome.issued.items():
        leaf = issued.certificate
        assert _profile(leaf) == _profile(single)
        assert leaf.issuer == single.issuer == station_ca.subject
        assert leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == station
        assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == \
            single.not_valid_after_utc - single.not_valid_before_utc
        assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
        leaf.verify_directly_issued_by(station_ca)
        assert issued.chain_pem.endswith(pki.hierarchy.station_ca.record.certificate_pem)
        # Only the first of a shape went through pkilint; every one of them lints clean in full.
        assert errors(lint_certificate(leaf.public_bytes(Encoding.DER))) == []
        assert leaf.serial_number >= 1 << 64
        serials.add(leaf.serial_number)
    assert len(serials) == 12 and single.serial_number not in serials
    # Random, not sequential: no two serials share their top 32 bits (chance ~1e-8).
    assert len({s >> 95 for s in serials}) == 12


def test_a_bad_csr_in_a_batch_is_refused_by_name_and_the_others_are_issued(sqlite_pki):
    for station in ("CP-A", "CP-B", "CP-C", "CP-D", "CP-E"):
        add_station(sqlite_pki.ctx, ACTOR, station, security_profile=3)
    shared = new_key()
    outcome = _batch(sqlite_pki, [
        StationCsr("CP-A", make_csr("CP-A")[0]),
        StationCsr("CP-B", make_csr("CP-A")[0]),                   # another station's name
        StationCsr("CP-GONE", make_csr("CP-GONE")[0]),             # not registered
        StationCsr("CP-C", make_csr("CP-C", key=shared)[0]),
        StationCsr("CP-D", make_csr("CP-D", key=shared)[0]),       # the key CP-C brings in this batch
        StationCsr("CP-E", make_csr("CP-E", key=rsa.generate_private_key(3, 2048))[0]),  # weak exponent
    ])
    assert {station: getattr(exc, "rule", type(exc).__name__) for station, exc in outcome.refused.items()} == {
        "CP-B": "csr.subject.cn", "CP-GONE": "station.unknown", "CP-D": "csr.key_reuse", "CP-E": "csr.key.rsa_exponent"}
    assert sorted(outcome.issued) == ["CP-A", "CP-C"]
    with session_scope(sqlite_pki.ctx.engine) as session:
        stored = session.exec(IssuedCertificate.__table__.select().where(
            IssuedCertificate.station_id.in_(["CP-A", "CP-B", "CP-C", "CP-D", "CP-E"]))).all()
    assert sorted(r.station_id for r in stored) == ["CP-A", "CP-C"]


def test_a_batch_supersedes_each_station_s_earlier_certificate(pki):
    stations = [f"CP-S{i}" for i in range(4)]
    for station in stations:
        add_station(pki.ctx, ACTOR, station, security_profile=3)
    first = _batch(pki, [StationCsr(s, make_csr(s)[0]) for s in stations])
    second = _batch(pki, [StationCsr(s, make_csr(s)[0]) for s in stations])
    with session_scope(pki.ctx.engine) as session:
        for station in stations:
            old = session.get(IssuedCertificate, first.issued[station].record.id)
            new = session.get(IssuedCertificate, second.issued[station].record.id)
            assert (old.status, old.superseded_by) == (CertStatus.SUPERSEDED, new.id)
            assert new.status == CertStatus.ISSUED
