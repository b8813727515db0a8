"""CSMS root rollover, in steps a rotation script runs, may be interrupted in, and runs again.

A generation is one root with its sub-CAs (station, server, and V2G when set up). The life of
generation n+1, and what each step leaves behind:

1. ``stage_next_generation``: the CAs exist, inactive: nothing is issued under them yet, but
   the station CAs are trusted for SP3 admission already (``trusted_authorities``).
2. ``root_to_install`` / ``cross_certificate``: what InstallCertificate(CSMSRootCertificate)
   carries to each station — the new root itself, or for stations with
   SecurityCtrlr.AdditionalRootCertificateCheck=true the new root's subject and key signed by the
   old root (M05), which such a station requires before it replaces its only CSMS root.
3. ``activate_generation``: the new CAs issue; generation n stays trusted (active=False,
   retired_at unset) so stations still holding its certificates keep connecting.
   ``switch_server_certificates`` then serves CSMS certificates from the new server CA.
4. ``retire_generation``: generation n is no longer trusted; refused while a station still
   depends on it, unless forced.

Every step looks for what exists before creating anything, so calling it again after an
interruption resumes instead of duplicating.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import func
from sqlmodel import Session, select

from pki import profiles
from pki.authorities import (
    Authority,
    active_authority,
    authority_by_id,
    ca_name,
    issue_server_certificates,
    new_authority,
    organization,
)
from pki.keystore import KeyStore
from pki.records import sign_and_record
from pki.v2g import v2g_ca_policy
from policies.csr import key_fingerprint
from policies.model import Policy
from policies.refusal import Refusal
from policies.trust_anchor import CSMS_ROOT, check_installable_rollover_root, check_installable_root
from storage.certificates import CaRole, CertificateAuthority, CertKind, CertStatus, IssuedCertificate
from storage.types import utcnow

_SUB_CA_ROLES = (CaRole.STATION, CaRole.SERVER, CaRole.V2G)
# Every generation has these; V2G only when an officer set one up.
_REQUIRED_ROLES = (CaRole.STATION, CaRole.SERVER)
_STATIONS_SHOWN = 10


class RolloverError(Refusal):
    """A rollover step cannot run in the current state (rule ``rollover.state``); the reason
    says why and what to do. A refusal like any other: every door translates it."""

    def __init__(self, reason: str) -> None:
        super().__init__("rollover.state", reason)


@dataclass(frozen=True)
class StagedGeneration:
    """One generation's authorities (staged, active or previous, whatever its state)."""

    generation: int
    root: Authority
    station_ca: Authority
    server_ca: Authority
    v2g_ca: Authority | None = None

    @property
    def authorities(self) -> tuple[Authority, ...]:
        return tuple(a for a in (self.root, self.station_ca, self.server_ca, self.v2g_ca) if a is not None)


@dataclass(frozen=True)
class RootToInstall:
    """What InstallCertificate(CSMSRootCertificate) sends to one station."""

    certificate_type: str
    pem: str
    generation: int
    # True: the new root's subject and key signed by ``signed_by`` (AdditionalRootCertificateCheck).
    cross_signed: bool
    signed_by: x509.Certificate


def _records(session: Session, generation: int) -> list[CertificateAuthority]:
    return list(session.exec(select(CertificateAuthority).where(CertificateAuthority.generation == generation)))


def _role_in(session: Session, root_id: str, role: str) -> Authority | None:
    ca_id = session.exec(select(CertificateAuthority.id).where(
        CertificateAuthority.parent_id == root_id, CertificateAuthority.role == role,
        CertificateAuthority.retired_at == None)).first()  # noqa: E711
    return authority_by_id(session, ca_id) if ca_id else None


def _root_of(session: Session, generation: int) -> Authority | None:
    ca_id = session.exec(select(CertificateAuthority.id).where(
        CertificateAuthority.generation == generation, CertificateAuthority.role == CaRole.ROOT)).first()
    return authority_by_id(session, ca_id) if ca_id else None


def load_generation(session: Session, generation: int) -> StagedGeneration:
    """The authorities of ``generation``; RolloverError when it does not exist or is incomplete."""
    root = _root_of(session, generation)
    if root is None:
        raise RolloverError(f"there is no generation {generation}")
    found = {role: _role_in(session, root.id, role) for role in _SUB_CA_ROLES}
    missing = [role for role in _REQUIRED_ROLES if found[role] is None]
    if missing:
        raise RolloverError(f"generation {generation} has no {' or '.join(missing)} CA; "
                            "run stage_next_generation again to complete it")
    return StagedGeneration(generation, root, found[CaRole.STATION], found[CaRole.SERVER], found[CaRole.V2G])


def _active_generation(session: Session) -> int:
    return active_authority(session, CaRole.ROOT).record.generation


def _serialize_on(session: Session, ca_id: str) -> None:
    # Two nodes running the same step must not both create: the row lock makes the second wait
    # for the first to commit, then find what it made. (SQLite already serialises writers.)
    session.exec(select(CertificateAuthority.id).where(CertificateAuthority.id == ca_id).with_for_update()).one()


def _staged_root(session: Session, active: int) -> CertificateAuthority | None:
    return session.exec(select(CertificateAuthority).where(
        CertificateAuthority.role == CaRole.ROOT, CertificateAuthority.generation > active,
        CertificateAuthority.retired_at == None)  # noqa: E711
        .order_by(CertificateAuthority.generation)).first()


def stage_next_generation(session: Session, keystore: KeyStore, *, policy: Policy, urls: profiles.PublicUrls,
                          now: datetime | None = None) -> StagedGeneration:
    """Root G(n+1) with the sub-CAs the active generation has, all inactive. Returns the staged
    generation when there is one already, completing it if an earlier run stopped half-way."""
    current_root = active_authority(session, CaRole.ROOT)
    _serialize_on(session, current_root.id)
    active = current_root.record.generation
    older = session.exec(select(CertificateAuthority.generation).where(
        CertificateAuthority.generation < active, CertificateAuthority.retired_at == None)).first()  # noqa: E711
    if older is not None:
        raise RolloverError(f"generation {older} is still trusted: finish the current rollover "
                            f"(retire generation {older}) before staging another generation")
    now = now or utcnow()
    org = organization(session)
    staged = _staged_root(session, active)
    if staged is None:
        generation = (session.exec(select(func.max(CertificateAuthority.generation))).one() or 0) + 1
        root = new_authority(session, keystore, role=CaRole.ROOT, name=ca_name(CaRole.ROOT, org, generation),
                             generation=generation, parent=None, policy=policy, urls=urls,
                             organization=org, now=now, active=False)
    else:
        generation, root = staged.generation, authority_by_id(session, staged.id)
    for role in _SUB_CA_ROLES:
        wanted = role in _REQUIRED_ROLES or _role_in(session, current_root.id, role) is not None
        if wanted and _role_in(session, root.id, role) is None:
            new_authority(session, keystore, role=role, name=ca_name(role, org, generation),
                          generation=generation, parent=root, policy=_policy_for(role, policy), urls=urls,
                          organization=org, now=now, active=False)
    return load_generation(session, generation)


def _policy_for(role: str, policy: Policy) -> Policy:
    return v2g_ca_policy(policy) if role == CaRole.V2G else policy


def _cross_validity(new_root: x509.Certificate, old_root: x509.Certificate) -> profiles.Validity:
    # Mirrors the new root's own window, cut at the old root's end (nothing outlives its issuer).
    return profiles.Validity(
        max(new_root.not_valid_before_utc, old_root.not_valid_before_utc),
        min(new_root.not_valid_after_utc, old_root.not_valid_after_utc))


def cross_certificate(session: Session, keystore: KeyStore, *, old_root: Authority, new_root: Authority,
                      urls: profiles.PublicUrls, now: datetime | None = None) -> x509.Certificate:
    """The new root's subject and key, signed by the old root; recorded as kind "cross" under
    the old root (so the old root's CRL can revoke it). Returns the existing one when present."""
    for authority, what in ((old_root, "old root"), (new_root, "new root")):
        if authority.record.role != CaRole.ROOT:
            raise RolloverError(f"the {what} {authority.record.name!r} is a {authority.record.role} CA, not a root")
    if old_root.id == new_root.id:
        raise RolloverError("a root cannot cross-certify itself")
    if new_root.record.retired_at is not None:
        raise RolloverError(f"generation {new_root.record.generation} is retired; nothing to cross-certify")
    now = now or utcnow()
    _serialize_on(session, old_root.id)
    existing = session.exec(select(IssuedCertificate).where(
        IssuedCertificate.kind == CertKind.CROSS, IssuedCertificate.issuer_id == old_root.id,
        IssuedCertificate.public_key_sha256 == key_fingerprint(new_root.certificate.public_key()),
        IssuedCertificate.status != CertStatus.REVOKED, IssuedCertificate.not_after > now)
        .order_by(IssuedCertificate.id.desc())).first()
    if existing is not None:
        return x509.load_pem_x509_certificate(existing.certificate_pem.encode())
    validity = _cross_validity(new_root.certificate, old_root.certificate)
    builder = profiles.cross_certificate(new_root.certificate, validity, old_root.certificate, old_root.id, urls)
    certificate, _ = sign_and_record(session, builder, old_root.key(keystore), issuer_id=old_root.id,
                                     kind=CertKind.CROSS, status=CertStatus.ACTIVE)
    return certificate


def _previous_root(session: Session, generation: int) -> Authority:
    ca_id = session.exec(select(CertificateAuthority.id).where(
        CertificateAuthority.role == CaRole.ROOT, CertificateAuthority.generation < generation,
        CertificateAuthority.retired_at == None)  # noqa: E711
        .order_by(CertificateAuthority.generation.desc())).first()
    if ca_id is None:
        raise RolloverError(f"no trusted root older than generation {generation} to sign it with")
    return authority_by_id(session, ca_id)


def _station_root(session: Session, generation: int, held: int | None) -> Authority:
    if held is None:
        return _previous_root(session, generation)
    if held >= generation:
        raise RolloverError(f"the station holds generation {held}; generation {generation} is not newer")
    root = _root_of(session, held)
    if root is None:
        raise RolloverError(f"there is no generation {held}")
    return root


def root_to_install(session: Session, keystore: KeyStore, *, generation: int, additional_root_check: bool,
                    urls: profiles.PublicUrls, station_holds: int | None = None,
                    now: datetime | None = None) -> RootToInstall:
    """The CSMSRootCertificate a station gets for ``generation``: the self-signed root, or, when
    the station has AdditionalRootCertificateCheck=true, the root cross-signed by the root the
    station holds — generation ``station_holds`` (pki.delivery.identify_anchor tells it from the
    inventory; it may be retired already if the station was offline), by default the newest
    older trusted one. Checked by the trust-anchor policy before it is returned, so what the
    gateway sends has passed the same rules as an officer's upload."""
    now = now or utcnow()
    root = load_generation(session, generation).root
    if additional_root_check:
        signer = _station_root(session, generation, station_holds)
        certificate = cross_certificate(session, keystore, old_root=signer, new_root=root, urls=urls, now=now)
        pem = certificate.public_bytes(Encoding.PEM).decode()
        decision = check_installable_rollover_root(pem, signer.certificate, now=now)
    else:
        signer, pem = root, root.record.certificate_pem
        decision = check_installable_root(pem, CSMS_ROOT, now=now)
    if not decision:
        raise RolloverError(f"generation {generation}'s root cannot be installed: {decision.rule}: {decision.reason}")
    return RootToInstall(CSMS_ROOT, pem, generation, additional_root_check, signer.certificate)


def activate_generation(session: Session, generation: int) -> StagedGeneration:
    """``generation``'s CAs issue from now on; every other generation stops issuing but stays
    trusted until retired. Also the way back: re-activating the previous, unretired generation
    undoes an activation."""
    target = load_generation(session, generation)
    if target.root.record.retired_at is not None:
        raise RolloverError(f"generation {generation} is retired and cannot issue again")
    current = active_authority(session, CaRole.ROOT)
    if target.v2g_ca is None and _role_in(session, current.id, CaRole.V2G) is not None:
        raise RolloverError(f"generation {generation} has no V2G CA but the active generation has one; "
                            "run stage_next_generation again to add it")
    others = session.exec(select(CertificateAuthority).where(
        CertificateAuthority.active == True, CertificateAuthority.generation != generation))  # noqa: E712
    for record in others:
        record.active = False
        session.add(record)
    for authority in target.authorities:
        authority.record.active = True
        session.add(authority.record)
    session.flush()
    return target


def _served_server_certificates(session: Session) -> list[IssuedCertificate]:
    return list(session.exec(select(IssuedCertificate).where(
        IssuedCertificate.kind == CertKind.SERVER, IssuedCertificate.status == CertStatus.ACTIVE)))


def switch_server_certificates(session: Session, keystore: KeyStore, *, generation: int, policy: Policy,
                               urls: profiles.PublicUrls, fqdn: str | None = None,
                               now: datetime | None = None) -> list[IssuedCertificate]:
    """Serve CSMS certificates (both key families) from ``generation``'s server CA; returns the
    ones already served when an earlier run switched. ``fqdn`` defaults to the served name."""
    target = load_generation(session, generation)
    if not target.server_ca.record.active:
        raise RolloverError(f"generation {generation} is not active; activate it before serving its certificates")
    served = _served_server_certificates(session)
    if len(served) >= 2 and all(r.issuer_id == target.server_ca.id for r in served):
        return served
    fqdn = fqdn or (served[0].subject_cn if served else None)
    if not fqdn:
        raise RolloverError("no server certificate is served now, so its name is unknown; give the FQDN")
    return issue_server_certificates(session, keystore, fqdn=fqdn, policy=policy, urls=urls,
                                     issuer=target.server_ca, now=now)


def stations_on_generation(session: Session, generation: int, *, now: datetime | None = None) -> list[str]:
    """Stations whose newest valid (unrevoked, unexpired) station certificate was issued in
    ``generation``: the ones retiring it would lock out of SP3."""
    now = now or utcnow()
    station_cas = session.exec(select(CertificateAuthority.id).where(
        CertificateAuthority.generation == generation, CertificateAuthority.role == CaRole.STATION)).all()
    if not station_cas:
        return []
    newest = (select(func.max(IssuedCertificate.id))
              .where(IssuedCertificate.kind == CertKind.STATION, IssuedCertificate.status != CertStatus.REVOKED,
                     IssuedCertificate.not_after > now)
              .group_by(IssuedCertificate.station_id))
    return sorted(session.exec(select(IssuedCertificate.station_id).where(
        IssuedCertificate.id.in_(newest), IssuedCertificate.issuer_id.in_(station_cas))))


def _describe_stations(stations: Sequence[str]) -> str:
    shown = ", ".join(stations[:_STATIONS_SHOWN])
    more = f" and {len(stations) - _STATIONS_SHOWN} more" if len(stations) > _STATIONS_SHOWN else ""
    return f"{len(stations)} station(s) ({shown}{more})"


def retire_generation(session: Session, generation: int, *, force: bool = False,
                      now: datetime | None = None) -> list[str]:
    """``generation``'s CAs are no longer trusted (SP3 admission, path validation). Refused while
    they issue, and — unless ``force`` — while the served CSMS certificates or any station's newest
    certificate still come from them. Returns the stations that were still on it (for the audit
    of a forced retirement); retiring a retired generation changes nothing."""
    records = _records(session, generation)
    if not records:
        raise RolloverError(f"there is no generation {generation}")
    if any(r.active for r in records):
        raise RolloverError(f"generation {generation} issues certificates now; activate another generation first")
    if all(r.retired_at is not None for r in records):
        return []
    now = now or utcnow()
    ca_ids = {r.id for r in records}
    problems: list[str] = []
    if any(r.issuer_id in ca_ids for r in _served_server_certificates(session)):
        problems.append("the served CSMS server certificates are issued by it (switch them first)")
    stations = stations_on_generation(session, generation, now=now)
    if stations:
        problems.append(f"{_describe_stations(stations)} hold no newer certificate (re-issue theirs first)")
    if problems and not force:
        raise RolloverError(f"generation {generation} is still in use: {'; '.join(problems)}")
    for record in records:
        if record.retired_at is None:
            record.retired_at = now
            session.add(record)
    session.flush()
    return stations


@dataclass(frozen=True)
class GenerationStatus:
    generation: int
    # "active" issues; "staged" is newer and not yet active; "trusted" is older, still trusted;
    # "retired" is trusted no more.
    state: str
    root_name: str
    root_not_after: datetime
    authorities: tuple[tuple[str, str], ...]     # (role, CA id)
    cross_certified_by: tuple[int, ...]          # generations whose root signed this root's key
    serves_server_certificates: bool
    stations: int                                # stations whose newest certificate is from it


@dataclass(frozen=True)
class RolloverStatus:
    generations: tuple[GenerationStatus, ...]

    def _with(self, state: str) -> tuple[int, ...]:
        return tuple(g.generation for g in self.generations if g.state == state)

    @property
    def active(self) -> int:
        return self._with("active")[0]

    @property
    def staged(self) -> int | None:
        staged = self._with("staged")
        return staged[0] if staged else None

    @property
    def trusted(self) -> tuple[int, ...]:
        return self._with("trusted")

    @property
    def in_progress(self) -> bool:
        """A rollover is under way until only one generation is left unretired."""
        return len(self.generations) - len(self._with("retired")) > 1


def rollover_status(session: Session, *, now: datetime | None = None) -> RolloverStatus:
    now = now or utcnow()
    active = _active_generation(session)
    records = list(session.exec(select(CertificateAuthority).order_by(
        CertificateAuthority.generation, CertificateAuthority.created_at)))
    generation_of = {r.id: r.generation for r in records}
    serving = {generation_of.get(r.issuer_id) for r in _served_server_certificates(session)}
    crosses = session.exec(select(IssuedCertificate.issuer_id, IssuedCertificate.public_key_sha256).where(
        IssuedCertificate.kind == CertKind.CROSS, IssuedCertificate.status != CertStatus.REVOKED)).all()
    statuses = []
    for root in (r for r in records if r.role == CaRole.ROOT):
        certificate = x509.load_pem_x509_certificate(root.certificate_pem.encode())
        fingerprint = key_fingerprint(certificate.public_key())
        if root.retired_at is not None:
            state = "retired"
        elif root.active:
            state = "active"
        else:
            state = "staged" if root.generation > active else "trusted"
        statuses.append(GenerationStatus(
            generation=root.generation, state=state, root_name=root.name,
            root_not_after=certificate.not_valid_after_utc,
            authorities=tuple((r.role, r.id) for r in records if r.generation == root.generation),
            cross_certified_by=tuple(sorted({generation_of[issuer] for issuer, key in crosses if key == fingerprint})),
            serves_server_certificates=root.generation in serving,
            stations=len(stations_on_generation(session, root.generation, now=now))))
    return RolloverStatus(tuple(statuses))
