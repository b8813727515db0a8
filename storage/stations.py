"""Tables of the station registry."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from storage.types import UtcDateTime, utcnow


class Station(SQLModel, table=True):
    __tablename__ = "station"

    # OCPP-J identity: identifierString of at most 48 characters, no ':' (P4 s3.1.1).
    id: str = Field(primary_key=True, max_length=48)
    security_profile: int = Field(default=2)
    # Basic-auth credentials (profiles 1 and 2), argon2id hashes only.
    password_hash: str | None = Field(default=None, max_length=255)
    # A01 while the answer to SetVariables(BasicAuthPassword) is unknown: both are accepted.
    pending_password_hash: str | None = Field(default=None, max_length=255)
    # Per-station BootNotification answer; None means the gateway default.
    boot_policy: str | None = Field(default=None, max_length=16)
    # SecurityCtrlr.MaxCertificateChainSize as reported by the station, when known.
    max_chain_size: int | None = Field(default=None)
    enabled: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
