"""Which protocol a station uploads to (or downloads from) ChargeCA with: a pure choice.

Inputs: what the operator asked for (or nothing), the policy's preference, the servers that run,
and what the station says it supports (``OCPPCommCtrlr.FileTransferProtocols``: FTP, FTPS, HTTP,
HTTPS, SFTP), when known. HTTPS is never offered as plain HTTP; FTPS means FTP with AUTH TLS on
the FTP port, so a station that lists only FTPS gets the ftp:// URL.
"""

from __future__ import annotations

from collections.abc import Iterable

from policies.model import Decision

PROTOCOLS = ("https", "ftp")
_STATION_NAMES = {"HTTPS": "https", "FTP": "ftp", "FTPS": "ftp"}


def station_protocols(reported: Iterable[str] | None) -> tuple[str, ...] | None:
    """The station's FileTransferProtocols values as our protocol names (None: not known)."""
    if reported is None:
        return None
    return tuple(dict.fromkeys(_STATION_NAMES[name.strip().upper()] for name in reported
                               if name.strip().upper() in _STATION_NAMES))


def choose_protocol(*, asked: str | None, preferred: str, running: Iterable[str],
                    station: Iterable[str] | None) -> tuple[str | None, Decision]:
    """(protocol, decision): the first of ``asked`` or (``preferred``, then the others) that runs
    and that the station supports when its support is known."""
    running = tuple(running)
    supported = tuple(station) if station is not None else None
    candidates = (asked,) if asked else (preferred, *(p for p in PROTOCOLS if p != preferred))
    for protocol in candidates:
        if protocol not in running:
            continue
        if supported is not None and protocol not in supported:
            continue
        return protocol, Decision.allow()
    if asked and asked not in running:
        return None, Decision.refuse("files.protocol_off", f"the {asked} file server is not running (see the [file_transfer] policy)")
    if supported is not None:
        return None, Decision.refuse("files.protocol_unsupported", f"the station supports {', '.join(supported) or 'no protocol'} we serve; "
                                     f"running: {', '.join(running) or 'none'}")
    return None, Decision.refuse("files.no_server", "no file server is running (see the [file_transfer] policy)")
