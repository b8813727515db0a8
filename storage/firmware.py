"""Firmware (block L): the registry of images, the manufacturer roots they chain to, the update
requests sent to stations with every status they reported, campaigns across a fleet, and what
local controllers report about firmware they publish (L03).

The image bytes are files under ``DATA/firmware/`` named by their SHA-256, never in the database;
a row names one. A station writes only statuses of requests we made (and PublishFirmware
statuses), bounded per station: ``STATUS_HISTORY_MAX`` / ``PUBLISH_HISTORY_MAX`` rows, the oldest
going first.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UtcDateTime, utcnow

STATUS_HISTORY_MAX = 2000
PUBLISH_HISTORY_MAX = 200

# Where a signature came from.
MANUFACTURER, CHARGECA = "manufacturer", "chargeca"

# FirmwareUpdate.status besides the station's answers (UpdateFirmwareStatusEnumType) and the
# FirmwareStatusEnumType values it reports afterwards: requested (recorded, no answer yet),
# cancelled (a later request was answered AcceptedCanceled, L01.FR.24), and how a call without an
# answer ended (error, timeout, not_connected).
REQUESTED, CANCELLED = "requested", "cancelled"

# Campaign states, and a station's within a campaign.
RUNNING, STOPPED, FINISHED, HALTED = "running", "stopped", "finished", "halted"
WAITING, SENT, INSTALLED, FAILED, SKIPPED = "waiting", "sent", "installed", "failed", "skipped"


class FirmwareRoot(SQLModel, table=True):
    """A manufacturer root a firmware signing certificate may chain to: uploaded by an officer
    (the manufacturer's), or ChargeCA's own (``authority_id`` set; its key in the key store)."""

    __tablename__ = "firmware_root"

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, unique=True)
    subject: str = Field(max_length=300)
    certificate_pem: str = Field(sa_column=Column(Text, nullable=False))
    authority_id: str | None = Field(default=None, foreign_key="certificate_authority.id", max_length=36)
    not_after: datetime = Field(sa_type=UtcDateTime)
    added_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class FirmwareCertificateRevocation(SQLModel, table=True):
    """A manufacturer's signing certificate an officer declared revoked (ours are revoked in the
    CA's own records): no update signed under it leaves."""

    __tablename__ = "firmware_certificate_revocation"

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, unique=True)
    subject: str = Field(max_length=300)
    reason: str = Field(max_length=500)
    revoked_by: str = Field(max_length=100)
    revoked_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class FirmwareImage(SQLModel, table=True):
    __tablename__ = "firmware_image"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    version: str = Field(max_length=50)
    sha256: str = Field(max_length=64, index=True)
    size: int
    signature: str = Field(max_length=800)                     # Base64, as UpdateFirmware carries it
    signing_certificate_pem: str = Field(sa_column=Column(Text, nullable=False))
    signing_certificate_sha256: str = Field(max_length=64, index=True)
    root_id: int = Field(foreign_key="firmware_root.id")
    signed_by: str = Field(max_length=16)                      # manufacturer | chargeca
    uploaded_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class FirmwareUpdate(SQLModel, table=True):
    """One UpdateFirmware we sent (or tried to), and where the station says it is."""

    __tablename__ = "firmware_update"
    __table_args__ = (UniqueConstraint("station_id", "request_id", name="uq_firmware_update_request"),)

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(index=True, max_length=48)
    request_id: int
    image_id: int = Field(foreign_key="firmware_image.id", index=True)
    campaign_id: int | None = Field(default=None, index=True)
    location: str = Field(max_length=512)
    grant_id: str | None = Field(default=None, max_length=32)     # the file service's download grant
    retrieve_at: datetime = Field(sa_type=UtcDateTime)
    install_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    answer: str | None = Field(default=None, max_length=32)    # UpdateFirmwareStatusEnumType
    status: str = Field(default=REQUESTED, max_length=32)
    requested_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class FirmwareStatusEvent(SQLModel, table=True):
    """Every FirmwareStatusNotification, in the order received."""

    __tablename__ = "firmware_status_event"

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(index=True, max_length=48)
    request_id: int | None = None
    update_id: int | None = Field(default=None, index=True)    # None: a requestId we never sent
    status: str = Field(max_length=32)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class FirmwareCampaign(SQLModel, table=True):
    __tablename__ = "firmware_campaign"

    id: int | None = Field(default=None, primary_key=True)
    image_id: int = Field(foreign_key="firmware_image.id")
    station_filter: str = Field(max_length=200)                # a glob over station ids
    per_minute: int                                            # pacing: UpdateFirmware sent per minute
    max_failures: int                                          # halted once this many stations failed
    install_delay_minutes: int = 0
    # "https", "ftp", or "auto": chosen per station from what it reported (FileTransferProtocols).
    protocol: str = Field(default="https", max_length=8)
    # A station sent its UpdateFirmware that reports no final status within this (after its
    # install time, if any) counts as failed; None: the [firmware] policy's.
    final_status_minutes: int | None = None
    status: str = Field(default=RUNNING, max_length=16, index=True)
    detail: str = Field(default="", max_length=500)
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class FirmwareCampaignStation(SQLModel, table=True):
    __tablename__ = "firmware_campaign_station"

    campaign_id: int = Field(primary_key=True, foreign_key="firmware_campaign.id")
    station_id: str = Field(primary_key=True, max_length=48)
    state: str = Field(default=WAITING, max_length=16)
    update_id: int | None = None
    detail: str = Field(default="", max_length=500)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class PublishFirmwareStatus(SQLModel, table=True):
    """PublishFirmwareStatusNotification (L03) of a local controller."""

    __tablename__ = "publish_firmware_status"

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(index=True, max_length=48)
    status: str = Field(max_length=32)
    request_id: int | None = None
    locations: str = Field(default="[]", sa_column=Column(Text, nullable=False))   # JSON list
    received_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
