"""Tables of the CA: its authorities and every certificate they issued, with revocations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UtcDateTime, utcnow


class CaRole:
    ROOT = "root"
    STATION = "station"      # issues ChargingStationCertificates
    SERVER = "server"        # issues the CSMS TLS server certificates
    V2G = "v2g"              # ISO 15118 SECC certificates


class CertKind:
    ROOT = "root"
    SUB_CA = "sub_ca"
    SERVER = "server"
    STATION = "station"
    V2G = "v2g"
    # A newer root's subject and key signed by an older root (rollover for stations with
    # SecurityCtrlr.AdditionalRootCertificateCheck). Not "root": it is not self-signed, and
    # code that lists our trust anchors must not mistake it for one.
    CROSS = "cross"


class CertStatus:
    ISSUED = "issued"            # signed, not yet seen in use
    ACTIVE = "active"
    SUPERSEDED = "superseded"    # replaced by a renewal; still valid until revoked or expired
    REVOKED = "revoked"


class CertificateAuthority(SQLModel, table=True):
    __tablename__ = "certificate_authority"

    id: str = Field(primary_key=True, max_length=36)
    role: str = Field(index=True, max_length=16)
    name: str = Field(max_length=200)
    generation: int = Field(default=1)
    parent_id: str | None = Field(default=None, foreign_key="certificate_authority.id", max_length=36)
    key_label: str = Field(max_length=100)
    certificate_pem: str = Field(sa_column=Column(Text, nullable=False))
    # active: issues certificates now (one per role). An inactive, unretired authority is still
    # trusted (staged during a rollover, or the previous generation until it is retired).
    active: bool = Field(default=True, index=True)
    retired_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    crl_number: int = Field(default=0)
    # The last CRL signed, served until a revocation makes it stale or it nears nextUpdate.
    crl_der: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    crl_next_update: datetime | None = Field(default=None, sa_type=UtcDateTime)
    crl_stale: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class IssuedCertificate(SQLModel, table=True):
    __tablename__ = "issued_certificate"
    __table_args__ = (UniqueConstraint("issuer_id", "serial_hex", name="uq_issued_certificate_serial"),)

    id: int | None = Field(default=None, primary_key=True)
    issuer_id: str = Field(foreign_key="certificate_authority.id", index=True, max_length=36)
    serial_hex: str = Field(index=True, max_length=64)
    kind: str = Field(index=True, max_length=16)
    subject_cn: str = Field(max_length=200)
    station_id: str | None = Field(default=None, index=True, max_length=48)
    not_before: datetime = Field(sa_type=UtcDateTime)
    not_after: datetime = Field(sa_type=UtcDateTime, index=True)
    public_key_sha256: str = Field(index=True, max_length=64)
    certificate_pem: str = Field(sa_column=Column(Text, nullable=False))
    # Only for certificates whose private key we hold (CSMS server certificates).
    key_label: str | None = Field(default=None, max_length=100)
    status: str = Field(default=CertStatus.ISSUED, index=True, max_length=16)
    superseded_by: int | None = Field(default=None, foreign_key="issued_certificate.id")
    # When the station first connected presenting it (profile 3): the start of the grace period
    # after which the certificates it superseded are revoked.
    activated_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    revocation_reason: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
