"""Request and response bodies of the REST API: the OpenAPI document is built from these.

No response model has a field for a password hash or a token secret hash; the clear password
or token appears exactly once, in the answer to the request that created it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from pydantic import BaseModel, Field

from api.core.audit import ROLES
from api.operations.stations import STATION_ID_MAX
from api.rest.request_body import RequestBody
from pki.authorities import Authority
from pki.issuance import IssuedChain
from pki.profiles import PublicUrls
from pki.revocation import REVOKE_REASONS
from storage.audit import AuditEntry
from storage.certificates import CertKind, CertStatus, IssuedCertificate
from storage.security_events import SecurityEvent
from storage.stations import Station
from storage.tokens import ApiToken


def _constants(holder: type) -> tuple[str, ...]:
    return tuple(value for name, value in vars(holder).items() if name.isupper())


# Built from the storage constants so that a new kind or status cannot be forgotten here.
CertKindName = Literal[_constants(CertKind)]  # type: ignore[valid-type]
CertStatusName = Literal[_constants(CertStatus)]  # type: ignore[valid-type]
RoleName = Literal[ROLES]  # type: ignore[valid-type]


# --- stations -----------------------------------------------------------------------------

class StationCreate(RequestBody):
    id: str = Field(min_length=1, max_length=STATION_ID_MAX,
                    description="OCPP identity (identifierString, no ':' or '/'); the CN of its certificates.")
    security_profile: int = Field(2, ge=1, le=3, description="OCPP security profile the station must use.")
    password: str | None = Field(None, description="Basic-auth password (16-64 characters of OCPP's "
                                 "passwordString set). Omit it for profiles 1 and 2 to have one generated.")


class StationOut(BaseModel):
    id: str
    security_profile: int
    pending_security_profile: int | None
    has_password: bool
    enabled: bool
    serial_number: str | None
    model: str | None
    vendor_name: str | None
    firmware_version: str | None
    last_boot_at: datetime | None
    last_connected_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, station: Station) -> "StationOut":
        return cls(id=station.id, security_profile=station.security_profile,
                   pending_security_profile=station.pending_security_profile,
                   has_password=station.password_hash is not None, enabled=station.enabled,
                   serial_number=station.serial_number, model=station.model, vendor_name=station.vendor_name,
                   firmware_version=station.firmware_version, last_boot_at=station.last_boot_at,
                   last_connected_at=station.last_connected_at, created_at=station.created_at)


class StationCreated(StationOut):
    password: str | None = Field(description="The generated Basic-auth password. Shown only in this answer; "
                                 "null when the request gave one or the profile needs none.")


# --- certificates -------------------------------------------------------------------------

class CsrSubmission(RequestBody):
    csr: str = Field(description="PEM PKCS#10 certificate request, as a station sends in SignCertificate.")


class IssuedChainOut(BaseModel):
    serial: str = Field(description="Lowercase hex without leading zeros (OCPP CertificateHashData form).")
    issuer_id: str
    station_id: str
    not_before: datetime
    not_after: datetime
    certificate_pem: str
    chain_pem: str = Field(description="Leaf first, then the issuing sub-CA; never the root.")
    ignored_csr_extensions: list[str] = Field(description="Extension requests in the CSR; never copied.")

    @classmethod
    def of(cls, issued: IssuedChain) -> "IssuedChainOut":
        record = issued.record
        return cls(serial=record.serial_hex, issuer_id=record.issuer_id, station_id=record.station_id or "",
                   not_before=record.not_before, not_after=record.not_after,
                   certificate_pem=record.certificate_pem, chain_pem=issued.chain_pem,
                   ignored_csr_extensions=list(issued.ignored_extensions))


class RevocationOut(BaseModel):
    revoked_at: datetime
    reason: str


class CertificateSummary(BaseModel):
    serial: str
    issuer_id: str
    kind: str
    status: str
    subject_cn: str
    station_id: str | None
    not_before: datetime
    not_after: datetime
    revocation: RevocationOut | None

    @staticmethod
    def _fields(record: IssuedCertificate) -> dict[str, Any]:
        revocation = (RevocationOut(revoked_at=record.revoked_at, reason=record.revocation_reason or "unspecified")
                      if record.revoked_at else None)
        return dict(serial=record.serial_hex, issuer_id=record.issuer_id, kind=record.kind, status=record.status,
                    subject_cn=record.subject_cn, station_id=record.station_id, not_before=record.not_before,
                    not_after=record.not_after, revocation=revocation)

    @classmethod
    def of(cls, record: IssuedCertificate) -> "CertificateSummary":
        return cls(**cls._fields(record))


class CertificateDetail(CertificateSummary):
    subject: str = Field(description="RFC 4514 string.")
    issuer: str = Field(description="RFC 4514 string.")
    fingerprint_sha256: str
    certificate_pem: str

    @classmethod
    def of(cls, record: IssuedCertificate) -> "CertificateDetail":
        certificate = x509.load_pem_x509_certificate(record.certificate_pem.encode())
        return cls(**cls._fields(record), subject=certificate.subject.rfc4514_string(),
                   issuer=certificate.issuer.rfc4514_string(),
                   fingerprint_sha256=certificate.fingerprint(hashes.SHA256()).hex(),
                   certificate_pem=record.certificate_pem)


class RevokeRequest(RequestBody):
    # Checked by the revocation itself (a refused reason is audited like any refusal), so the
    # accepted names are listed here rather than enforced by the schema.
    reason: str = Field(description="RFC 5280 reason name, one of those listed.",
                        json_schema_extra={"enum": list(REVOKE_REASONS)})
    issuer_id: str | None = Field(None, description="Only needed if two CAs issued the same serial.")


# --- authorities --------------------------------------------------------------------------

class AuthorityOut(BaseModel):
    id: str
    role: str
    name: str
    generation: int
    parent_id: str | None
    active: bool = Field(description="Issues certificates now (one per role).")
    retired_at: datetime | None = Field(description="No longer trusted since; null while trusted.")
    subject: str
    serial: str
    not_before: datetime
    not_after: datetime
    certificate_pem: str
    crl_url: str | None = Field(description="Where this CA's CRL is published, when a public URL is set.")

    @classmethod
    def of(cls, authority: Authority, urls: PublicUrls) -> "AuthorityOut":
        record, certificate = authority.record, authority.certificate
        return cls(id=record.id, role=record.role, name=record.name, generation=record.generation,
                   parent_id=record.parent_id, active=record.active, retired_at=record.retired_at,
                   subject=certificate.subject.rfc4514_string(),
                   serial=format(certificate.serial_number, "x"), not_before=certificate.not_valid_before_utc,
                   not_after=certificate.not_valid_after_utc, certificate_pem=record.certificate_pem,
                   crl_url=urls.crl_url(record.id))


# --- audit --------------------------------------------------------------------------------

class AuditEntryOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    outcome: str
    detail: dict[str, Any]
    prev_hash: str
    entry_hash: str

    @classmethod
    def of(cls, entry: AuditEntry) -> "AuditEntryOut":
        return cls(seq=entry.seq or 0, at=entry.at, actor=entry.actor, action=entry.action, target=entry.target,
                   outcome=entry.outcome, detail=json.loads(entry.detail or "{}"), prev_hash=entry.prev_hash,
                   entry_hash=entry.entry_hash)


class AuditPage(BaseModel):
    entries: list[AuditEntryOut] = Field(description="Newest first.")
    next_before: int | None = Field(description="Pass as `before` for the next (older) page; null at the end.")


# --- tokens -------------------------------------------------------------------------------

class TokenCreate(RequestBody):
    role: RoleName
    name: str = Field(min_length=1, max_length=100, description="Who or what uses the token.")
    valid_days: int | None = Field(default=None, ge=1, le=3650,
                                   description="Days until the token stops working; omitted, it works until revoked.")


class TokenOut(BaseModel):
    id: str
    name: str
    role: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = Field(description="When it stops working; null: when revoked.")

    @classmethod
    def of(cls, record: ApiToken) -> "TokenOut":
        return cls(id=record.id, name=record.name, role=record.role, created_by=record.created_by,
                   created_at=record.created_at, revoked_at=record.revoked_at, expires_at=record.expires_at)


class TokenCreated(TokenOut):
    token: str = Field(description="The bearer token. Shown only in this answer; only its hash is stored.")


# --- security events ----------------------------------------------------------------------

class SecurityEventOut(BaseModel):
    id: int
    station_id: str | None
    source: str
    type: str
    occurred_at: datetime
    received_at: datetime
    tech_info: str | None
    critical: bool
    occurrences: int = Field(1, description="Refused connections are aggregated per source address and rule, "
                                            "a station's repeated alerts per type within 10 minutes: how many "
                                            "this row stands for, from occurred_at to last_seen_at.")
    last_seen_at: datetime | None = None
    source_address: str | None = Field(None, description="The client's IP address, for refused connections.")

    @classmethod
    def of(cls, event: SecurityEvent) -> "SecurityEventOut":
        return cls(id=event.id or 0, station_id=event.station_id, source=event.source, type=event.type,
                   occurred_at=event.occurred_at, received_at=event.received_at, tech_info=event.tech_info,
                   critical=event.critical, occurrences=event.occurrences, last_seen_at=event.last_seen_at,
                   source_address=event.source_address)


class SecurityEventPage(BaseModel):
    events: list[SecurityEventOut] = Field(description="Newest first.")
    next_before: int | None = Field(description="Pass as `before` for the next (older) page; null at the end.")
