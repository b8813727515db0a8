"""ISO 15118 (V2G): a separate sub-CA under our root, set up on demand, that signs SECC
certificates (SignCertificate with certificateType V2GCertificate)."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlmodel import Session, select

from pki import profiles
from pki.authorities import (
    Authority,
    PkiNotInitialized,
    active_authority,
    authority_by_id,
    ca_name,
    new_authority,
    organization,
)
from pki.issuance import CsrRefused, IssuedChain, checked_station_csr, issue_station_chain
from pki.keystore import KeyStore
from policies.keys import check_iso15118_key
from policies.model import Decision, Policy
from policies.refusal import NotFound
from storage.certificates import CaRole, CertificateAuthority, CertKind
from storage.types import utcnow

# ISO 15118-2 allows ECDSA on secp256r1 only, whatever the policy picks for our other CAs.
_V2G_CA_KEY = "ec-p256"


class V2gNotConfigured(NotFound):
    """No V2G sub-CA exists; a V2GCertificate request is refused with ``rule``."""

    rule = "v2g.not_configured"

    def __init__(self) -> None:
        super().__init__(self.rule, "no V2G (ISO 15118) sub-CA is set up: an officer creates one first "
                         "(`chargeca ca v2g create` or POST /api/v1/ca/v2g); V2GCertificate "
                         "requests are refused until then")


def v2g_ca_policy(policy: Policy) -> Policy:
    """``policy`` with the CA key forced to secp256r1 for a V2G sub-CA."""
    return dataclasses.replace(policy, keys=dataclasses.replace(policy.keys, ca_key=_V2G_CA_KEY))


def v2g_authority(session: Session) -> Authority | None:
    """The V2G sub-CA that issues now, if one is set up."""
    try:
        return active_authority(session, CaRole.V2G)
    except PkiNotInitialized:
        return None


def ensure_v2g_ca(session: Session, keystore: KeyStore, *, policy: Policy, urls: profiles.PublicUrls,
                  now: datetime | None = None) -> Authority:
    """The V2G sub-CA under the active root, created on first call; later calls return it."""
    root = active_authority(session, CaRole.ROOT)
    existing = session.exec(select(CertificateAuthority.id).where(
        CertificateAuthority.role == CaRole.V2G, CertificateAuthority.parent_id == root.id,
        CertificateAuthority.retired_at == None)).first()  # noqa: E711
    if existing is not None:
        return authority_by_id(session, existing)
    generation = root.record.generation
    org = organization(session)
    return new_authority(session, keystore, role=CaRole.V2G, name=ca_name(CaRole.V2G, org, generation),
                         generation=generation, parent=root, policy=v2g_ca_policy(policy), urls=urls,
                         organization=org, now=now or utcnow())


def sign_v2g_csr(session: Session, keystore: KeyStore, *, station_id: str, csr_pem: str, policy: Policy,
                 urls: profiles.PublicUrls, secc_id: str | None = None, lint: bool = True,
                 now: datetime | None = None) -> IssuedChain:
    """Issue an ISO 15118-2 SECC certificate to ``station_id`` from the V2G sub-CA.

    ``secc_id``: the CN the CSR carries (ISO15118Ctrlr.SeccId) when it is not the station
    identity. Raises V2gNotConfigured, UnknownStation or CsrRefused (``decision.rule``).
    """
    issuer = v2g_authority(session)
    if issuer is None:
        raise V2gNotConfigured()
    check = checked_station_csr(session, station_id=station_id, csr_pem=csr_pem, policy=policy,
                                subject_cn=secc_id)
    public_key = check.csr.public_key()
    key = check_iso15118_key(public_key)
    if not key:
        raise CsrRefused(Decision.refuse(f"csr.{key.rule}", key.reason))
    now = now or utcnow()
    validity = profiles.Validity.starting(now, policy.validity.v2g_days, policy.validity.backdate_minutes,
                                          issuer.certificate.not_valid_after_utc)
    builder = profiles.v2g_secc(secc_id or station_id, organization(session), public_key, validity,
                                issuer.certificate, issuer.id, urls)
    return issue_station_chain(session, keystore, station_id=station_id, issuer=issuer, builder=builder,
                               kind=CertKind.V2G, lint=lint, ignored_extensions=check.ignored_extensions)
