"""Issuing many ChargingStationCertificates in one transaction: the engine of every station
certificate (a fleet re-issue at a root rollover as much as one SignCertificate, a batch of one).

Per certificate the work is what it always was — the CSR checks of pki/issuance.py, the
charging_station profile, a lint rehearsal before the CA key signs, a random serial, the record
that supersedes the station's earlier certificates — but what a batch shares is done once: the
issuer, its key and the organisation are looked up once; the stations, the keys they hold and
the keys held elsewhere are read with one query each; one validity (the batch's ``now``) makes
every certificate of the batch one lint shape (pki/lint_shapes.py), so pkilint runs once per
shape rather than once per certificate; the records go in one multi-row INSERT and the
supersessions in one executemany.

Semantics: a CSR that breaks a rule is refused by name (``BatchOutcome.refused``: CsrRefused,
UnknownStation, or LintError for a certificate that does not lint) and the others are issued.
Nothing is committed here: the caller's transaction stores the batch (with its audit entries)
or nothing of it. A station may appear once per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import bindparam, insert, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from pki import profiles
from pki.authorities import Authority, active_authority, organization
from pki.issuance import CsrRefused, IssuedChain, UnknownStation
from pki.keystore import KeyStore
from pki.lint import LintError, sign_linted, signature_hash_for
from pki.lint_shapes import LintedShapes
from pki.serials import random_serial, serial_hex
from policies.csr import check_csr, key_fingerprint
from policies.model import Decision, Policy
from storage.certificates import CaRole, CertKind, CertStatus, IssuedCertificate
from storage.filters import in_lists
from storage.stations import Station
from storage.types import utcnow

_SERIAL_ATTEMPTS = 3
# Process-wide: a shape linted clean stays clean (pkilint is a pure function of the document).
_SHAPES = LintedShapes()


@dataclass(frozen=True)
class StationCsr:
    station_id: str
    csr_pem: str


@dataclass(frozen=True)
class BatchOutcome:
    issued: dict[str, IssuedChain] = field(default_factory=dict)       # by station, in batch order
    refused: dict[str, Exception] = field(default_factory=dict)        # by station: why not


@dataclass(frozen=True)
class _Checked:
    station_id: str
    csr: x509.CertificateSigningRequest
    fingerprint: str
    ignored_extensions: tuple[str, ...]


def _known_stations(session: Session, ids: Sequence[str]) -> set[str]:
    return {sid for chunk in in_lists(ids) for sid in session.exec(select(Station.id).where(Station.id.in_(chunk)))}


def _held_keys(session: Session, ids: Sequence[str]) -> dict[str, set[str]]:
    held: dict[str, set[str]] = {sid: set() for sid in ids}
    for chunk in in_lists(ids):
        for sid, fingerprint in session.exec(select(IssuedCertificate.station_id, IssuedCertificate.public_key_sha256)
                                             .where(IssuedCertificate.station_id.in_(chunk))):
            held[sid].add(fingerprint)
    return held


def _owners(session: Session, fingerprints: Sequence[str]) -> dict[str, set[str]]:
    """The stations each key is certified for already."""
    owners: dict[str, set[str]] = {}
    for chunk in in_lists(fingerprints):
        for fingerprint, sid in session.exec(select(IssuedCertificate.public_key_sha256, IssuedCertificate.station_id)
                                             .where(IssuedCertificate.public_key_sha256.in_(chunk))):
            owners.setdefault(fingerprint, set()).add(sid)
    return owners


def _check_all(session: Session, csrs: Sequence[StationCsr], policy: Policy,
               refused: dict[str, Exception]) -> list[_Checked]:
    """The CSR checks of ``checked_station_csr``, with the reads of the whole batch done at once."""
    ids = [c.station_id for c in csrs]
    known, held, org = _known_stations(session, ids), _held_keys(session, ids), organization(session)
    checked: list[_Checked] = []
    for item in csrs:
        if item.station_id not in known:
            refused[item.station_id] = UnknownStation(item.station_id)
            continue
        check = check_csr(item.csr_pem, station_id=item.station_id, organization=org,
                          known_key_fingerprints=held[item.station_id], csr_policy=policy.csr, key_policy=policy.keys)
        if not check.decision:
            refused[item.station_id] = CsrRefused(check.decision)
            continue
        checked.append(_Checked(item.station_id, check.csr, key_fingerprint(check.csr.public_key()),
                                check.ignored_extensions))
    if not policy.csr.refuse_key_reuse:
        return checked
    owners = _owners(session, [c.fingerprint for c in checked])
    kept: list[_Checked] = []
    for item in checked:
        # The key of another station, stored or earlier in this batch.
        if owners.get(item.fingerprint, set()) - {item.station_id}:
            refused[item.station_id] = CsrRefused(Decision.refuse(
                "csr.key_reuse", "CSR public key is already certified for another station"))
            continue
        owners.setdefault(item.fingerprint, set()).add(item.station_id)
        kept.append(item)
    return kept


def _sign_all(builders: list[tuple[_Checked, x509.CertificateBuilder]], issuer: Authority, keystore: KeyStore,
              lint: bool, refused: dict[str, Exception]) -> list[tuple[_Checked, x509.Certificate]]:
    key = issuer.key(keystore)
    algorithm = signature_hash_for(key)
    signed = []
    for item, builder in builders:
        try:
            certificate = sign_linted(builder.serial_number(random_serial()), key, algorithm, lint=lint, shapes=_SHAPES)
        except LintError as exc:
            refused[item.station_id] = exc
            continue
        signed.append((item, certificate))
    return signed


def _row(item: _Checked, certificate: x509.Certificate, issuer_id: str) -> dict:
    return {"issuer_id": issuer_id, "serial_hex": serial_hex(certificate.serial_number), "kind": CertKind.STATION,
            "subject_cn": item.station_id, "station_id": item.station_id,
            "not_before": certificate.not_valid_before_utc, "not_after": certificate.not_valid_after_utc,
            "public_key_sha256": item.fingerprint, "certificate_pem": certificate.public_bytes(Encoding.PEM).decode(),
            "status": CertStatus.ISSUED, "created_at": utcnow()}


def _store(session: Session, signed: list[tuple[_Checked, x509.Certificate]],
           issuer_id: str) -> list[IssuedCertificate] | None:
    """One multi-row INSERT; None when a serial clashed (the savepoint is rolled back)."""
    savepoint = session.begin_nested()
    try:
        records = list(session.scalars(
            insert(IssuedCertificate).returning(IssuedCertificate, sort_by_parameter_order=True),
            [_row(item, certificate, issuer_id) for item, certificate in signed]))
    except IntegrityError:
        savepoint.rollback()
        return None
    savepoint.commit()
    return records


_TABLE = IssuedCertificate.__table__
# An executemany: psycopg pipelines it (one round trip, one query to convert), where one UPDATE
# with a CASE of the whole batch costs more to compile and convert than it saves.
_SUPERSEDE = (update(_TABLE)
              .where(_TABLE.c.station_id == bindparam("station"), _TABLE.c.kind == CertKind.STATION,
                     # OR, not IN: an expanding IN cannot go in an executemany
                     or_(_TABLE.c.status == CertStatus.ISSUED, _TABLE.c.status == CertStatus.ACTIVE),
                     _TABLE.c.id != bindparam("new_id"))
              .values(status=CertStatus.SUPERSEDED, superseded_by=bindparam("new_id")))


def _supersede(session: Session, records: list[IssuedCertificate]) -> None:
    """Each station's earlier certificates of the kind, superseded by its new one (they stay valid
    until revoked or expired, A02.FR.10)."""
    session.execute(_SUPERSEDE, [{"station": r.station_id, "new_id": r.id} for r in records])
    # The UPDATE bypassed the identity map: earlier certificates a caller loaded reload.
    stations = {r.station_id for r in records}
    for obj in list(session.identity_map.values()):
        if isinstance(obj, IssuedCertificate) and obj.station_id in stations and obj.kind == CertKind.STATION:
            session.expire(obj, ["status", "superseded_by"])


def issue_station_batch(session: Session, keystore: KeyStore, csrs: Sequence[StationCsr], *, policy: Policy,
                        urls: profiles.PublicUrls, lint: bool = True, now: datetime | None = None) -> BatchOutcome:
    """Check, build, lint, sign and record a certificate for each CSR; see the module docstring."""
    ids = [c.station_id for c in csrs]
    if len(set(ids)) != len(ids):
        raise ValueError("a station may appear once per batch")
    outcome = BatchOutcome()
    checked = _check_all(session, csrs, policy, outcome.refused)
    if not checked:
        return outcome
    issuer = active_authority(session, CaRole.STATION)
    org = organization(session)
    now = now or utcnow()
    validity = profiles.Validity.starting(now, policy.validity.station_days, policy.validity.backdate_minutes,
                                          issuer.certificate.not_valid_after_utc)
    builders = [(item, profiles.charging_station(item.station_id, org, item.csr.public_key(), validity,
                                                 issuer.certificate, issuer.id, urls)) for item in checked]
    for _ in range(_SERIAL_ATTEMPTS):
        # The (issuer, serial) UNIQUE constraint is the final word on serial uniqueness; on the
        # astronomically rare clash the batch is signed again with new serials.
        signed = _sign_all(builders, issuer, keystore, lint, outcome.refused)
        if not signed:
            return outcome
        records = _store(session, signed, issuer.id)
        if records is not None:
            break
    else:
        raise RuntimeError("could not allocate unique serial numbers")
    _supersede(session, records)
    chain_tail = issuer.record.certificate_pem
    for (item, certificate), record in zip(signed, records):
        chain = certificate.public_bytes(Encoding.PEM).decode() + chain_tail
        outcome.issued[item.station_id] = IssuedChain(record, certificate, issuer, chain, item.ignored_extensions)
    return outcome
