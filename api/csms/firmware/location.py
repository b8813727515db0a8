"""Where a station downloads an image from: one small function, so that the file-transfer
service's download grants are the only thing behind it.

``download_location`` returns a one-time, expiring, read-only URL for the image file, over
HTTPS or FTP, for one station and one request.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from api.core.context import Context
from api.core.refusal import Refusal
from storage.types import utcnow

PROTOCOLS = ("https", "ftp")


@dataclass(frozen=True)
class Download:
    url: str
    expires_at: datetime


def download_location(ctx: Context, path: Path, *, station_id: str, request_id: int, protocol: str,
                      name: str) -> Download:
    if protocol not in PROTOCOLS:
        raise Refusal("firmware.protocol", f"protocol must be one of {', '.join(PROTOCOLS)}")
    expires_at = utcnow() + timedelta(minutes=ctx.policy.firmware.download_minutes)
    url = _grant(ctx, path, station_id=station_id, request_id=request_id, protocol=protocol, name=name,
                 expires_at=expires_at)
    if len(url) > 512:
        raise Refusal("firmware.location", "the download location is longer than the 512 characters OCPP allows")
    return Download(url, expires_at)


class Grants(Protocol):
    def grant(self, path: Path, *, protocol: str, expires_at: datetime, name: str) -> str: ...


_served: list[Grants] = []


@contextmanager
def serving(grants: Grants) -> Iterator[None]:
    """While the stack runs: where download locations come from."""
    _served.append(grants)
    try:
        yield
    finally:
        _served.remove(grants)


def _grant(ctx: Context, path: Path, *, station_id: str, request_id: int, protocol: str, name: str,
           expires_at: datetime) -> str:
    if not _served:
        raise Refusal("firmware.file_transfer", "no download server runs in this process to serve firmware images")
    return _served[-1].grant(path, protocol=protocol, expires_at=expires_at, name=name)


def public_host(bound: str) -> str:
    """The host name a station reaches a server bound to ``bound`` by."""
    return socket.getfqdn() if bound in ("0.0.0.0", "::", "") else bound
