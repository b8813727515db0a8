"""Tables of the station registry."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, func
from sqlmodel import Field, SQLModel

from storage.types import UtcDateTime, utcnow


class Station(SQLModel, table=True):
    __tablename__ = "station"

    # OCPP-J identity: identifierString of at most 48 characters, no ':' (P4 s3.1.1).
    id: str = Field(primary_key=True, max_length=48)
    # The profile the station must connect with (A00.FR.002).
    security_profile: int = Field(default=2)
    # A05 upgrade in progress: this higher profile is also accepted, and becomes
    # ``security_profile`` (for good) the first time the station connects with it.
    pending_security_profile: int | None = Field(default=None)
    # Basic-auth credentials (profiles 1 and 2), argon2id hashes only.
    password_hash: str | None = Field(default=None, max_length=255)
    # A01 while the answer to SetVariables(BasicAuthPassword) is unknown: both are accepted.
    pending_password_hash: str | None = Field(default=None, max_length=255)
    # Per-station BootNotification answer; None means the gateway default.
    boot_policy: str | None = Field(default=None, max_length=16)
    # SecurityCtrlr.MaxCertificateChainSize as reported by the station, when known.
    max_chain_size: int | None = Field(default=None)
    # SecurityCtrlr.AdditionalRootCertificateCheck as reported (GetVariables), None while unknown:
    # when true, a new CSMS root must reach the station signed by the root it holds (M05).
    additional_root_check: bool | None = Field(default=None)
    # How many certificates the station can store: the maxLimit of SecurityCtrlr.CertificateEntries,
    # which only a device-model report (NotifyReport) carries; None while no report said.
    certificate_capacity: int | None = Field(default=None)
    # When the station last answered GetInstalledCertificateIds: an empty inventory is then known
    # to be empty, not merely never asked for.
    inventory_refreshed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    enabled: bool = Field(default=True)
    # From the last BootNotification.
    serial_number: str | None = Field(default=None, max_length=25)
    model: str | None = Field(default=None, max_length=20)
    vendor_name: str | None = Field(default=None, max_length=50)
    firmware_version: str | None = Field(default=None, max_length=50)
    # When the last BootNotification was answered Accepted; None while it is Pending/Rejected.
    # A station that reconnects without booting (P4 §5.3) is let in only when this is set.
    last_boot_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_connected_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


# Registration compares identities without case (OCPP identifierString): api/operations/stations.py.
Index("ix_station_id_lower", func.lower(Station.__table__.c.id))


class InstalledCertificate(SQLModel, table=True):
    """A station's certificate inventory, exactly as it reported it (GetInstalledCertificateIds)."""

    __tablename__ = "installed_certificate"

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(foreign_key="station.id", index=True, max_length=48)
    certificate_type: str = Field(max_length=32)
    hash_algorithm: str = Field(max_length=8)
    issuer_name_hash: str = Field(max_length=128)
    issuer_key_hash: str = Field(max_length=128)
    serial_number: str = Field(max_length=40)
    # Child entries of a V2GCertificateChain point at their leaf's row.
    parent_id: int | None = Field(default=None, foreign_key="installed_certificate.id")
    reported_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class StationDisconnect(SQLModel, table=True):
    """A request to close a station's live connections, stored in the transaction of the change
    that calls for it (certificate revoked, station disabled or deleted, profile changed).

    Every gateway process reading this database acts on new rows (api/ocpp/transport/disconnects.py), so
    the request reaches the station's connection whichever door made the change (REST, CLI, a
    worker) and whichever node holds the connection. No foreign key: the station row may be
    deleted by the same change. Rows are kept for a while, then pruned.
    """

    __tablename__ = "station_disconnect"

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(max_length=48)
    reason: str = Field(max_length=120)      # the WebSocket close reason the station sees
    # Only connections presenting this certificate (profile 3); None: any connection.
    issuer_id: str | None = Field(default=None, max_length=36)
    serial_hex: str | None = Field(default=None, max_length=64)
    # Connections on this profile stay (a profile change closes only the others).
    keep_profile: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)
