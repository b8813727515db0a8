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
from api.csms.provisioning import device_model
from policies.file_transfer import choose_protocol, station_protocols

PROTOCOLS = ("https", "ftp")
PURPOSE = "firmware"


@dataclass(frozen=True)
class Download:
    url: str
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


def download_location(session: Session, path: Path, *, station_id: str, request_id: int, protocol: str, name: str,
                      ttl: timedelta) -> Download:
    if protocol not in PROTOCOLS:
        raise Refusal("firmware.protocol", f"protocol must be one of {', '.join(PROTOCOLS)}")
    # A station that reported what it can download with (OCPPCommCtrlr.FileTransferProtocols) is
    # sent nothing it cannot fetch: an FTP-only station's update is refused over https, by name.
    reported = device_model.reported_value(session, station_id, "OCPPCommCtrlr", "FileTransferProtocols")
    if reported:
        _, decision = choose_protocol(asked=protocol, preferred=protocol, running=PROTOCOLS,
                                      station=station_protocols(reported.split(",")))
        if not decision.allowed:
            raise Refusal.of(decision)
    if not _served:
        raise Conflict("firmware.file_service", "the file-transfer service does not run in this process, so no "
                                                "download location can be given")
    try:
        locations = grant_download(session, _served[-1].endpoints, station_id=station_id, path=path, purpose=PURPOSE,
                                   request_id=request_id, ttl=ttl, file_name=name)
    except GrantError as exc:
        raise Conflict("firmware.file_service", str(exc)) from None
    url = locations.url(protocol)
    if url is None:
        raise Refusal("firmware.protocol", f"the file service does not serve {protocol} here (see the "
                                           "[file_transfer] policy)")
    return Download(url, locations.grant_id, locations.expires_at)
