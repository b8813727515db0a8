"""Files to and from stations: one-time grants and the files stations uploaded with them.

A grant is one credential for one direction: DOWNLOAD (read one stored file) or UPLOAD (write one
file, at most ``max_bytes``). Only the SHA-256 of its secret is kept: the secret is 256 random
bits and lives in the URL the station was given, so a slow password hash would buy nothing.
Grants are made by the CSMS only (an operator's or a rotation's request), never by a station; a
station can only turn one upload grant into one ``received_file`` row, so both tables stay as
large as the requests make them, and retention prunes both (api/csms/file_transfer/retention.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel

from storage.types import UtcDateTime, utcnow

DOWNLOAD, UPLOAD = "download", "upload"


class FileGrant(SQLModel, table=True):
    __tablename__ = "file_grant"

    id: str = Field(primary_key=True, max_length=32)      # the FTP user name, the first path segment
    station_id: str = Field(index=True, max_length=48)
    direction: str = Field(max_length=8)
    purpose: str = Field(max_length=24)                    # "log", "firmware", …: the owner's name
    request_id: int
    secret_hash: str = Field(max_length=64)                # sha256 hex of the secret
    file_name: str = Field(max_length=255)                 # the name in the URL
    blob_path: str | None = Field(default=None, max_length=1024)   # downloads: the stored file
    max_bytes: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    expires_at: datetime = Field(sa_type=UtcDateTime, index=True)
    used_at: datetime | None = Field(default=None, sa_type=UtcDateTime)     # upload complete
    revoked_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    downloads: int = 0


class ReceivedFile(SQLModel, table=True):
    __tablename__ = "received_file"
    __table_args__ = (Index("ix_received_file_owner", "purpose", "station_id", "request_id"),)

    id: int | None = Field(default=None, primary_key=True)
    grant_id: str = Field(max_length=32, unique=True)
    station_id: str = Field(index=True, max_length=48)
    purpose: str = Field(max_length=24)
    request_id: int
    file_name: str = Field(max_length=255)                 # as the station named it (sanitized)
    path: str = Field(max_length=1024)                     # relative to the data directory
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    sha256: str = Field(max_length=64)
    protocol: str = Field(max_length=8)                    # "https" or "ftp"
    received_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)
