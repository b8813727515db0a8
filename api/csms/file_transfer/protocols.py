"""Which protocol a station moves one file with, logs (N01) and firmware (L01) alike: the
operator's when given, else the preferred one, then the others; always one whose server runs
here and, when the station reported them (``OCPPCommCtrlr.FileTransferProtocols``), one it
supports. The pure choice is policies/file_transfer.py; this reads its inputs."""

from __future__ import annotations

from sqlmodel import Session

from api.core.refusal import Refusal
from api.csms.file_transfer.grants import Endpoints
from api.csms.provisioning import device_model
from policies.file_transfer import choose_protocol, station_protocols


def running(endpoints: Endpoints) -> tuple[str, ...]:
    return tuple(name for name, port in (("https", endpoints.https_port), ("ftp", endpoints.ftp_port)) if port)


def reported(session: Session, station_id: str) -> tuple[str, ...] | None:
    """The station's FileTransferProtocols as our protocol names; None: it never said."""
    value = device_model.reported_value(session, station_id, "OCPPCommCtrlr", "FileTransferProtocols")
    return station_protocols(value.split(",")) if value else None


def protocol_for(session: Session, endpoints: Endpoints, station_id: str, *, asked: str | None,
                 preferred: str) -> str:
    """The protocol, or Refusal naming why none fits (the asked one is off or the station does
    not list it, the station lists none we run, no server runs)."""
    chosen, decision = choose_protocol(asked=asked, preferred=preferred, running=running(endpoints),
                                       station=reported(session, station_id))
    if chosen is None:
        raise Refusal.of(decision)
    return chosen
