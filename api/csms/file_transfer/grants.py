"""One-time credentials for one file, one direction, one station and one request.

This is the interface other blocks code against (logs, firmware):

* ``grant_download(session, endpoints, station_id=…, path=…, purpose=…, request_id=…, ttl=…)``
  → ``Locations``: URLs a station reads one stored file from, until ``ttl`` has passed.
* ``grant_upload(session, endpoints, station_id=…, purpose=…, request_id=…, max_bytes=…, ttl=…)``
  → ``Locations``: URLs a station writes one file to (at most ``max_bytes``), once.
* ``received_file(session, grant_id)`` → ``Received | None``: what arrived (path, size, sha256).
* ``revoke(session, grant_id)``: the grant stops working at once (a superseded request).

All are synchronous database work on the caller's session (call them through ``call.db`` or
``run_in_session``, never on the event loop). The secret exists only in the returned URLs; the
database keeps its SHA-256 (see storage/file_transfer.py for why not argon2).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from urllib.parse import quote

from sqlmodel import Session, select, update

from storage.file_transfer import DOWNLOAD, UPLOAD, FileGrant, ReceivedFile
from storage.types import utcnow

# A grant id is the FTP user name and an URL path segment: letters and digits only, so no
# client quotes or mangles it. 20 base-62 characters ≈ 119 bits, far beyond guessing.
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ID_LENGTH = 20
# The secret: 43 URL-safe base-64 characters (256 bits) that need no quoting in a URL or an FTP PASS.
_SECRET_BYTES = 32
MAX_TTL = timedelta(days=7)
# OCPP's remoteLocation / location fields are string[0..512]: the longest URL we may hand out.
MAX_URL_LENGTH = 512
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class Direction(StrEnum):
    DOWNLOAD = DOWNLOAD
    UPLOAD = UPLOAD


@dataclass(frozen=True)
class Endpoints:
    """Where stations reach the file servers: the host name in the URLs (one the server
    certificate names) and the ports actually listening; None for a protocol that is off."""

    host: str
    https_port: int | None
    ftp_port: int | None


@dataclass(frozen=True)
class Locations:
    """What to send a station. ``https_url`` and ``ftp_url`` carry the same one-time credential:
    in the path for HTTPS (``/files/<grant>/<secret>/<name>``), as user and password for FTP
    (``ftp://<grant>:<secret>@host:port/<name>``). None for a protocol that is off."""

    grant_id: str
    https_url: str | None
    ftp_url: str | None
    expires_at: datetime

    def url(self, protocol: str) -> str | None:
        """The URL for ``"https"`` or ``"ftp"``."""
        return {"https": self.https_url, "ftp": self.ftp_url}.get(protocol)


@dataclass(frozen=True)
class Received:
    """A file a station uploaded with a grant: ``path`` is absolute, ``sha256`` is hex."""

    grant_id: str
    station_id: str
    purpose: str
    request_id: int
    file_name: str
    path: Path
    size: int
    sha256: str
    protocol: str
    received_at: datetime


class GrantError(ValueError):
    """A grant that cannot be made as asked (no protocol on, a missing file, a bad figure)."""


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def safe_name(name: str | None, default: str) -> str:
    """A file name with no path in it and nothing a URL or a file system would treat specially."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _SAFE_NAME.sub("_", base).strip("._")[:120]
    return cleaned or default


def _new_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


def _locations(endpoints: Endpoints, grant: FileGrant, secret: str) -> Locations:
    name = quote(grant.file_name) if grant.direction == DOWNLOAD else ""
    https = (f"https://{endpoints.host}:{endpoints.https_port}/files/{grant.id}/{secret}/{name}"
             if endpoints.https_port else None)
    ftp = f"ftp://{grant.id}:{secret}@{endpoints.host}:{endpoints.ftp_port}/{name}" if endpoints.ftp_port else None
    for url in (https, ftp):
        if url and len(url) > MAX_URL_LENGTH:
            raise GrantError(f"the URL would be {len(url)} characters; OCPP allows {MAX_URL_LENGTH}")
    return Locations(grant.id, https, ftp, grant.expires_at)


def _grant(session: Session, endpoints: Endpoints, *, station_id: str, direction: str, purpose: str,
           request_id: int, ttl: timedelta, file_name: str, blob_path: str | None,
           max_bytes: int | None) -> Locations:
    if not endpoints.https_port and not endpoints.ftp_port:
        raise GrantError("no file server is running (HTTPS and FTP are both off)")
    if not timedelta(0) < ttl <= MAX_TTL:
        raise GrantError(f"a grant lasts more than 0 and at most {MAX_TTL.days} days")
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    grant = FileGrant(id=_new_id(), station_id=station_id, direction=direction, purpose=purpose[:24],
                      request_id=request_id, secret_hash=secret_hash(secret), file_name=file_name,
                      blob_path=blob_path, max_bytes=max_bytes, expires_at=utcnow() + ttl)
    locations = _locations(endpoints, grant, secret)
    session.add(grant)
    session.flush()
    return locations


def grant_download(session: Session, endpoints: Endpoints, *, station_id: str, path: Path, purpose: str,
                   request_id: int, ttl: timedelta, file_name: str | None = None) -> Locations:
    """Let ``station_id`` read the stored file at ``path`` (absolute) until ``ttl`` has passed,
    as often as it needs to (a station retries a broken download). ``file_name``: the name in
    the URL (default: the file's own name, made safe). The file must stay where it is until
    the grant expires; nothing else is readable with the grant."""
    path = Path(path)
    if not path.is_absolute() or not path.is_file():
        raise GrantError(f"no stored file at {path}")
    return _grant(session, endpoints, station_id=station_id, direction=DOWNLOAD, purpose=purpose,
                  request_id=request_id, ttl=ttl, file_name=safe_name(file_name or path.name, "file"),
                  blob_path=str(path), max_bytes=None)


def grant_upload(session: Session, endpoints: Endpoints, *, station_id: str, purpose: str, request_id: int,
                 max_bytes: int, ttl: timedelta) -> Locations:
    """Let ``station_id`` write one file of at most ``max_bytes`` until ``ttl`` has passed. An
    upload that breaks off or exceeds the limit leaves nothing and may be tried again; the first
    complete one uses the grant up. Read the result with ``received_file(session, grant_id)``."""
    if max_bytes < 1:
        raise GrantError("max_bytes must be at least 1")
    return _grant(session, endpoints, station_id=station_id, direction=UPLOAD, purpose=purpose,
                  request_id=request_id, ttl=ttl, file_name="upload", blob_path=None, max_bytes=max_bytes)


def revoke(session: Session, grant_id: str) -> bool:
    """End a grant now (an upload already under way is refused when it completes). Whether it was live."""
    result = session.exec(update(FileGrant).where(FileGrant.id == grant_id, FileGrant.revoked_at.is_(None))
                          .values(revoked_at=utcnow()))
    return bool(result.rowcount)


def _received(row: ReceivedFile, data_dir: Path) -> Received:
    return Received(row.grant_id, row.station_id, row.purpose, row.request_id, row.file_name, data_dir / row.path,
                    row.size, row.sha256, row.protocol, row.received_at)


def received_file(session: Session, grant_id: str, data_dir: Path) -> Received | None:
    """The file uploaded with ``grant_id``, or None while nothing complete has arrived."""
    row = session.exec(select(ReceivedFile).where(ReceivedFile.grant_id == grant_id)).first()
    return _received(row, data_dir) if row else None


# What the servers use -------------------------------------------------------------------------

class Refused(Exception):
    """A request the file servers turn down: ``status`` is the HTTP status (401 unknown
    credentials, 403 known but not usable for this, 413 too large)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def check(session: Session, grant_id: str, secret: str, direction: str | None,
          now: datetime | None = None) -> FileGrant:
    """The grant these credentials open for ``direction`` (None: either), or ``Refused``."""
    grant = session.get(FileGrant, grant_id) if len(grant_id) == _ID_LENGTH else None
    if grant is None or not hmac.compare_digest(grant.secret_hash, secret_hash(secret)):
        raise Refused(401, "unknown credentials")
    now = now or utcnow()
    if grant.revoked_at is not None:
        raise Refused(403, "grant revoked")
    if grant.expires_at <= now:
        raise Refused(403, "grant expired")
    if direction is not None and grant.direction != direction:
        raise Refused(403, f"grant is for {grant.direction}")
    if grant.used_at is not None:
        raise Refused(403, "grant used")
    return grant


def count_download(session: Session, grant_id: str) -> None:
    session.exec(update(FileGrant).where(FileGrant.id == grant_id).values(downloads=FileGrant.downloads + 1))


def claim_upload(session: Session, grant_id: str, now: datetime | None = None) -> FileGrant:
    """Mark the upload grant used, exactly once (two uploads racing: the first to finish wins)."""
    now = now or utcnow()
    result = session.exec(update(FileGrant).where(
        FileGrant.id == grant_id, FileGrant.used_at.is_(None), FileGrant.revoked_at.is_(None),
        FileGrant.expires_at > now).values(used_at=now))
    if not result.rowcount:
        raise Refused(403, "grant used, revoked or expired during the upload")
    grant = session.get(FileGrant, grant_id)
    assert grant is not None
    return grant


def record_received(session: Session, grant: FileGrant, *, file_name: str, relative_path: str, size: int,
                    sha256: str, protocol: str) -> None:
    session.add(ReceivedFile(grant_id=grant.id, station_id=grant.station_id, purpose=grant.purpose,
                             request_id=grant.request_id, file_name=file_name, path=relative_path, size=size,
                             sha256=sha256, protocol=protocol))
    session.flush()
