"""The CA hierarchy: creating it once, and finding the authority that plays a role."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from sqlmodel import Session, select

from pki import profiles
from pki.keystore import KeyStore
from pki.records import sign_and_record
from policies.model import Policy
from policies.names import check_alt_name, check_fqdn, control_character
from policies.refusal import Refusal
from storage.certificates import CaRole, CertificateAuthority, CertKind, CertStatus, IssuedCertificate
from storage.types import utcnow


class PkiNotInitialized(RuntimeError):
    def __init__(self) -> None:
        super().__init__("the PKI is not initialised: run `chargeca init --org NAME --fqdn HOST`")


class PkiAlreadyInitialized(RuntimeError):
    pass


@dataclass(frozen=True)
class Authority:
    record: CertificateAuthority
    certificate: x509.Certificate

    @property
    def id(self) -> str:
        return self.record.id

    def key(self, keystore: KeyStore) -> PrivateKeyTypes:
        return keystore.load(self.record.key_label)


def _load(record: CertificateAuthority) -> Authority:
    return Authority(record, x509.load_pem_x509_certificate(record.certificate_pem.encode()))


def active_authority(session: Session, role: str) -> Authority:
    record = session.exec(
        select(CertificateAuthority)
        .where(CertificateAuthority.role == role, CertificateAuthority.active == True)  # noqa: E712
        .order_by(CertificateAuthority.generation.desc())
    ).first()
    if record is None:
        raise PkiNotInitialized()
    return _load(record)


def trusted_authorities(session: Session, role: str) -> list[Authority]:
    """Every unretired authority of ``role``, newest generation first: what verification trusts
    (during a root rollover both generations' station CAs must admit stations)."""
    records = session.exec(
        select(CertificateAuthority)
        .where(CertificateAuthority.role == role, CertificateAuthority.retired_at == None)  # noqa: E711
        .order_by(CertificateAuthority.generation.desc())
    )
    return [_load(r) for r in records]


def authority_by_id(session: Session, ca_id: str) -> Authority | None:
    record = session.get(CertificateAuthority, ca_id)
    return _load(record) if record else None


def all_authorities(session: Session) -> list[Authority]:
    records = session.exec(select(CertificateAuthority).order_by(CertificateAuthority.created_at))
    return [_load(r) for r in records]


def is_initialized(session: Session) -> bool:
    return session.exec(select(CertificateAuthority.id).limit(1)).first() is not None


def organization(session: Session) -> str:
    """The CSO's OrganizationName: the O of the active root, so there is one source of truth."""
    root = active_authority(session, CaRole.ROOT)
    return root.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value


_CA_TITLES = {
    CaRole.ROOT: "CSMS Root CA",
    CaRole.STATION: "Charging Station CA",
    CaRole.SERVER: "CSMS Server CA",
    CaRole.V2G: "V2G CA",
}


# Every CA's CN is the organization and a title (``ca_name``), within X.509's 64 characters
# (RFC 5280 ub-common-name) up to generation 99. Longer, init made keys and then failed on the CN.
MAX_ORGANIZATION_CHARS = 64 - len(f" {max(_CA_TITLES.values(), key=len)} G99")


def ca_name(role: str, organization: str, generation: int) -> str:
    """The CN of an authority; the generation is in it so that two generations never share a
    subject (stations and path builders tell roots apart by name first)."""
    return f"{organization} {_CA_TITLES[role]} G{generation}"


def new_authority(session: Session, keystore: KeyStore, *, role: str, name: str, generation: int,
                  parent: Authority | None, policy: Policy, urls: profiles.PublicUrls,
                  organization: str, now: datetime, active: bool = True) -> Authority:
    """One CA: a fresh key in the key store, its certificate signed by ``parent`` (or by itself
    for a root) and recorded. ``active=False`` stages it: trusted, but not issuing yet."""
    ca_id = str(uuid.uuid4())
    label = f"{role}-ca-{ca_id[:8]}"
    key = keystore.create(label, policy.keys.ca_key)
    subject = profiles.name(name, organization)
    if parent is None:
        validity = profiles.Validity.starting(now, policy.validity.root_days, policy.validity.backdate_minutes)
        builder = profiles.root_ca(subject, key.public_key(), validity)
        signer_key, issuer_id, kind = key, ca_id, CertKind.ROOT
    else:
        validity = profiles.Validity.starting(now, policy.validity.sub_ca_days, policy.validity.backdate_minutes,
                                              parent.certificate.not_valid_after_utc)
        builder = profiles.sub_ca(subject, key.public_key(), validity, parent.certificate, parent.id, urls)
        signer_key, issuer_id, kind = parent.key(keystore), parent.id, CertKind.SUB_CA
    record = CertificateAuthority(id=ca_id, role=role, name=name, generation=generation,
                                  parent_id=parent.id if parent else None, key_label=label,
                                  certificate_pem="", active=active)
    session.add(record)
    session.flush()
    certificate, _ = sign_and_record(session, builder, signer_key, issuer_id=issuer_id, kind=kind,
                                     status=CertStatus.ACTIVE)
    record.certificate_pem = certificate.public_bytes(Encoding.PEM).decode()
    session.add(record)
    session.flush()
    return Authority(record, certificate)


@dataclass(frozen=True)
class Hierarchy:
    root: Authority
    station_ca: Authority
    server_ca: Authority
    server_certificates: list[IssuedCertificate]


def _require_names(fqdn: str, extra_names: Sequence[str]) -> None:
    for decision in (check_fqdn(fqdn), *(check_alt_name(name) for name in extra_names)):
        if not decision:
            raise Refusal.of(decision)


def served_extra_names(record: IssuedCertificate) -> list[str]:
    """The subjectAltNames of a server certificate besides its FQDN (its CN), in order."""
    certificate = x509.load_pem_x509_certificate(record.certificate_pem.encode())
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(name.value) for name in names if str(name.value) != record.subject_cn]


def init_pki(session: Session, keystore: KeyStore, *, organization: str, fqdn: str, policy: Policy,
             urls: profiles.PublicUrls, now: datetime | None = None,
             extra_names: Sequence[str] = ()) -> Hierarchy:
    """Create root, station sub-CA, server sub-CA and both server certificates, exactly once."""
    if is_initialized(session):
        raise PkiAlreadyInitialized("the PKI already exists here; nothing was changed")
    if not organization.strip():
        raise ValueError("the organization name must not be empty")
    # It is the O of every certificate, and each station's CSR must carry it (OrganizationName):
    # a tab or an invisible character there is a name no station operator can type back.
    odd = control_character(organization, invisible=True)
    if odd is not None or organization != organization.strip():
        what = f"the character U+{ord(odd):04X}" if odd is not None else "spaces at either end"
        raise Refusal("organization.text", f"the organization name holds {what}; it goes into every "
                      "certificate's O and every station's CSR must repeat it")
    if len(organization) > MAX_ORGANIZATION_CHARS:
        raise Refusal("organization.length", f"the organization name has {len(organization)} characters; at most "
                      f"{MAX_ORGANIZATION_CHARS} fit in the CAs' names (64 characters in X.509)")
    _require_names(fqdn, extra_names)
    now = now or utcnow()
    common = dict(policy=policy, urls=urls, organization=organization, now=now, generation=1)
    root = new_authority(session, keystore, role=CaRole.ROOT, name=ca_name(CaRole.ROOT, organization, 1),
                         parent=None, **common)
    station_ca = new_authority(session, keystore, role=CaRole.STATION,
                               name=ca_name(CaRole.STATION, organization, 1), parent=root, **common)
    server_ca = new_authority(session, keystore, role=CaRole.SERVER,
                              name=ca_name(CaRole.SERVER, organization, 1), parent=root, **common)
    servers = issue_server_certificates(session, keystore, fqdn=fqdn, policy=policy, urls=urls,
                                        issuer=server_ca, now=now, extra_names=extra_names)
    return Hierarchy(root, station_ca, server_ca, servers)


def issue_server_certificates(session: Session, keystore: KeyStore, *, fqdn: str, policy: Policy,
                              urls: profiles.PublicUrls, issuer: Authority | None = None,
                              now: datetime | None = None,
                              extra_names: Sequence[str] | None = None) -> list[IssuedCertificate]:
    """New CSMS server certificates in both key families (A00.FR.318 needs ECDSA and RSA).

    The previous server certificates become superseded; connections using them stay up.
    ``extra_names`` None keeps the extra subjectAltNames of the certificates served now, so a
    rotation or a root rollover does not drop a name stations connect by.
    """
    previous = session.exec(select(IssuedCertificate).where(
        IssuedCertificate.kind == CertKind.SERVER, IssuedCertificate.status == CertStatus.ACTIVE)).all()
    if extra_names is None:
        extra_names = served_extra_names(previous[0]) if previous else []
    _require_names(fqdn, extra_names)
    issuer = issuer or active_authority(session, CaRole.SERVER)
    now = now or utcnow()
    organization_name = issuer.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    issued: list[IssuedCertificate] = []
    validity = profiles.Validity.starting(now, policy.validity.server_days, policy.validity.backdate_minutes,
                                          issuer.certificate.not_valid_after_utc)
    for family, spec in (("ec", policy.keys.server_ec_key), ("rsa", policy.keys.server_rsa_key)):
        label = f"server-{family}-{uuid.uuid4().hex[:8]}"
        key = keystore.create(label, spec, for_tls=True)
        builder = profiles.csms_server(fqdn, organization_name, key.public_key(), validity,
                                       issuer.certificate, issuer.id, urls, extra_names)
        _, record = sign_and_record(session, builder, issuer.key(keystore), issuer_id=issuer.id,
                                    kind=CertKind.SERVER, status=CertStatus.ACTIVE, key_label=label)
        issued.append(record)
    for old in previous:
        old.status = CertStatus.SUPERSEDED
        old.superseded_by = issued[0].id
        session.add(old)
    session.flush()
    return issued


__all__ = [
    "Authority", "Hierarchy", "PkiAlreadyInitialized", "PkiNotInitialized", "active_authority",
    "all_authorities", "authority_by_id", "ca_name", "init_pki", "is_initialized", "issue_server_certificates",
    "new_authority", "organization", "served_extra_names", "trusted_authorities",
]
