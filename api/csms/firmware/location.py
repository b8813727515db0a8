"""Where a station downloads an image from: one small function over the file-transfer service's
download grants (api/csms/file_transfer): a URL that expires, read only, for one station and
one request, over HTTPS or FTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlmodel import Session

from api.core.refusal import Conflict, Refusal
from api.csms.file_transfer import Endpoints, GrantError, grant_download
from api.csms.file_transfer.protocols import protocol_for

PROTOCOLS = ("https", "ftp")
PURPOSE = "firmware"
PREFERRED = "https"   # when the officer names none and the station allows both


@dataclass(frozen=True)
class Download:
    url: str
    protocol: str
    grant_id: str
    expires_at: datetime


class FileServers(Protocol):
    endpoints: Endpoints   # read at each grant: a service in a child process learns its ports late


_served: list[FileServers] = []


@contextmanager
def serving(files: FileServers) -> Iterator[None]:
    """While the file service runs (api/stack.py): whose download grants locations are."""
    _served.append(files)
    try:
        yield
    finally:
        _served.remove(files)


def download_location(session: Session, path: Path, *, station_id: str, request_id: int, protocol: str | None,
                      name: str, ttl: timedelta) -> Download:
    """A one-time location for ``path``; ``protocol`` None: chosen among the servers that run
    and what the station reported it can download with (OCPPCommCtrlr.FileTransferProtocols),
    HTTPS first, as a log's upload location is (api/csms/file_transfer/protocols.py). A
    protocol given is checked the same way: an FTP-only station is refused an https location."""
    if protocol is not None and protocol not in PROTOCOLS:
        raise Refusal("firmware.protocol", f"protocol must be one of {', '.join(PROTOCOLS)}")
    if not _served:
        raise Conflict("firmware.file_service", "the file-transfer service does not run in this process, so no "
                                                "download location can be given")
    endpoints = _served[-1].endpoints
    chosen = protocol_for(session, endpoints, station_id, asked=protocol, preferred=PREFERRED)
    try:
        locations = grant_download(session, endpoints, station_id=station_id, path=path, purpose=PURPOSE,
                                   request_id=request_id, ttl=ttl, file_name=name)
    except GrantError as exc:
        raise Conflict("firmware.file_service", str(exc)) from None
    url = locations.url(chosen)
    assert url is not None  # protocol_for chose among the servers that run
    return Download(url, chosen, locations.grant_id, locations.expires_at)
