"""Block L's database work: whether an image may go to a station now, the UpdateFirmware
requests and their answers, the statuses stations report, PublishFirmware statuses.

The check before an UpdateFirmware leaves (every door: the firmware route, the typed command,
the generic call, a campaign): the image's signing certificate chains to a manufacturer root the
station reports as ManufacturerRootCertificate (else refused by name: install that root), it
and its root are valid now, it is not revoked, and its signature verifies over the image file
as it will be served (L01.FR.11).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from ocpp.v201.enums import FirmwareStatusEnumType, UpdateFirmwareStatusEnumType
from sqlalchemy import delete, func
from sqlmodel import Session, select

from api.core.context import Context
from api.csms.file_transfer import revoke
from api.csms.firmware import registry
from api.csms.security import alerts
from api.csms.security.installed_certificates import stored_rows
from pki import firmware as signing
from pki.delivery import inventory_matches, reported_hash_data
from policies.model import Decision
from storage.firmware import (
    CANCELLED,
    PUBLISH_HISTORY_MAX,
    REQUESTED,
    STATUS_HISTORY_MAX,
    FirmwareImage,
    FirmwareRoot,
    FirmwareStatusEvent,
    FirmwareUpdate,
    PublishFirmwareStatus,
)
from storage.stations import Station
from storage.types import utcnow

MANUFACTURER_ROOT = "ManufacturerRootCertificate"
INSTALL_ROUTE = "POST /api/v1/stations/{id}/installed-certificates"

# Where an update ends: installed, or a failure the station reports, or refused in its answer.
Status = FirmwareStatusEnumType
SUCCEEDED = frozenset({Status.installed.value})
FAILED_STATUSES = frozenset({Status.download_failed.value, Status.installation_failed.value,
                             Status.install_verification_failed.value, Status.invalid_signature.value})
REFUSED_ANSWERS = frozenset({UpdateFirmwareStatusEnumType.rejected.value,
                             UpdateFirmwareStatusEnumType.invalid_certificate.value,
                             UpdateFirmwareStatusEnumType.revoked_certificate.value})
UNANSWERED = frozenset({"error", "timeout", "not_connected"})
ENDED = SUCCEEDED | FAILED_STATUSES | REFUSED_ANSWERS | UNANSWERED | {CANCELLED}
# Where the station itself, or a later request, ended an update for good: a status for it that
# arrives after (out of order, repeated, or a station contradicting its own answer) is kept in the
# history only. Not among them: an unanswered call (the station may have got the request all the
# same), and a failed download or installation, which a station may try again (UpdateFirmware's
# retries) and then report Installed. Firmware whose signature or verification failed is never
# installed after.
FINAL = SUCCEEDED | REFUSED_ANSWERS | {CANCELLED, Status.invalid_signature.value,
                                       Status.install_verification_failed.value}
ACCEPTED_ANSWERS = frozenset({UpdateFirmwareStatusEnumType.accepted.value,
                              UpdateFirmwareStatusEnumType.accepted_canceled.value})

# The station's security events about firmware (A04, Appendix 1), and the statuses that say the
# same: an officer must look (a forged image, or a root the station does not trust).
FIRMWARE_EVENTS = frozenset({"InvalidFirmwareSignature", "InvalidFirmwareSigningCertificate"})
ALERT_RULE = "firmware.station_refused"


# --- the check before sending -------------------------------------------------------------------

@dataclass(frozen=True)
class Checked:
    image: FirmwareImage
    root: FirmwareRoot


def root_held(session: Session, station_id: str, root: x509.Certificate) -> bool | None:
    """Whether the station reports ``root`` among its ManufacturerRootCertificates (under the
    hash algorithm it used); None: its inventory was never asked for."""
    station = session.get(Station, station_id)
    rows = [r for r in stored_rows(session, station_id, MANUFACTURER_ROOT) if r.parent_id is None]
    if station.inventory_refreshed_at is None and not rows:
        return None
    return any(inventory_matches(reported_hash_data(r), root, root) for r in rows)


def check_update(ctx: Context, session: Session, station_id: str, image: FirmwareImage) -> Decision:
    """Whether ``image`` may be sent to ``station_id`` now (see the module docstring)."""
    certificate = x509.load_pem_x509_certificate(image.signing_certificate_pem.encode())
    root_row = session.get(FirmwareRoot, image.root_id)
    root = registry.root_certificate(root_row)
    held = root_held(session, station_id, root)
    if not held:
        asked = ("its installed certificates were never asked for: refresh them "
                 "(POST /api/v1/stations/{id}/installed-certificates/refresh), or "
                 if held is None else "")
        return Decision.refuse("firmware.root_not_installed",
                               f"station {station_id} does not report the manufacturer root {root_row.subject} "
                               f"(firmware root {root_row.id}) as a ManufacturerRootCertificate, so it cannot verify "
                               f"this firmware's signing certificate; {asked}install that root: "
                               f"{INSTALL_ROUTE.replace('{id}', station_id)} with certificate_type "
                               f"{MANUFACTURER_ROOT} and the root of GET /api/v1/firmware/roots")
    decision = signing.check_signing_certificate(certificate, root, utcnow(), registry.is_revoked(session, certificate))
    if not decision:
        return decision
    digest = registry.stored_digest(ctx, image)
    if digest != image.sha256:
        return Decision.refuse("firmware.image.changed", f"the stored file of image {image.id} no longer has the "
                                                         "SHA-256 it was registered with")
    return signing.verify_digest(certificate, bytes.fromhex(digest), image.signature)


# --- update requests ----------------------------------------------------------------------------

def record_request(session: Session, *, station_id: str, request_id: int, image: FirmwareImage, location: str,
                   grant_id: str, retrieve_at: datetime, install_at: datetime | None, requested_by: str,
                   campaign_id: int | None = None) -> FirmwareUpdate:
    row = FirmwareUpdate(station_id=station_id, request_id=request_id, image_id=image.id, location=location,
                         grant_id=grant_id, retrieve_at=retrieve_at, install_at=install_at, requested_by=requested_by,
                         campaign_id=campaign_id)
    session.add(row)
    session.flush()
    return row


def _open_updates(session: Session, station_id: str, but: int) -> list[FirmwareUpdate]:
    rows = session.exec(select(FirmwareUpdate).where(FirmwareUpdate.station_id == station_id,
                                                     FirmwareUpdate.id != but)
                        .order_by(FirmwareUpdate.id.desc()).limit(20))
    return [r for r in rows if r.status not in ENDED and (r.answer in ACCEPTED_ANSWERS or r.answer is None)]


def record_answer(session: Session, update_id: int, answer: str | None, call_status: str) -> FirmwareUpdate:
    """The station's answer (UpdateFirmwareStatusEnumType), or how the call ended without one.
    AcceptedCanceled (L01.FR.24): the update it was running is cancelled."""
    row = session.get(FirmwareUpdate, update_id)
    now = utcnow()
    row.answer = answer
    if row.status == REQUESTED:
        row.status = answer if answer is not None else call_status
    row.updated_at = now
    session.add(row)
    if answer == UpdateFirmwareStatusEnumType.accepted_canceled.value:
        for previous in _open_updates(session, row.station_id, row.id):
            previous.status, previous.updated_at = CANCELLED, now
            session.add(previous)
            _close_location(session, previous)
    if answer in REFUSED_ANSWERS:
        _close_location(session, row)
    if answer in (UpdateFirmwareStatusEnumType.invalid_certificate.value,
                  UpdateFirmwareStatusEnumType.revoked_certificate.value):
        alerts.raise_alert(session, station_id=row.station_id, event_type="InvalidFirmwareSigningCertificate",
                           rule=ALERT_RULE, reason=f"the station answered {answer} to UpdateFirmware "
                                                   f"{row.request_id} (image {row.image_id})",
                           actor="system:firmware", detail={"request_id": row.request_id, "image_id": row.image_id})
    session.flush()
    return row


def _close_location(session: Session, row: FirmwareUpdate) -> None:
    if row.grant_id is not None:
        revoke(session, row.grant_id)


def record_status(session: Session, station_id: str, status: str, request_id: int | None) -> FirmwareUpdate | None:
    """A FirmwareStatusNotification: in the history (bounded per station), and the status of the
    update it names unless that update has ended (``FINAL``). InvalidSignature is an alert."""
    row = None
    if request_id is not None:
        row = session.exec(select(FirmwareUpdate).where(FirmwareUpdate.station_id == station_id,
                                                        FirmwareUpdate.request_id == request_id)).first()
    now = utcnow()
    session.add(FirmwareStatusEvent(station_id=station_id, request_id=request_id,
                                    update_id=row.id if row else None, status=status, received_at=now))
    if row is not None and row.status not in FINAL:
        row.status, row.updated_at = status, now
        session.add(row)
        if status in SUCCEEDED | FAILED_STATUSES or status == Status.downloaded.value:
            _close_location(session, row)  # downloaded or over: nobody needs the image from it again
    if status == Status.invalid_signature.value:
        alerts.raise_alert(session, station_id=station_id, event_type="InvalidFirmwareSignature", rule=ALERT_RULE,
                           reason=f"the station reports InvalidSignature for firmware request {request_id}",
                           actor="system:firmware", detail={"request_id": request_id})
    session.flush()
    _prune(session, FirmwareStatusEvent, station_id, STATUS_HISTORY_MAX)
    if row is not None:
        session.expunge(row)
    return row


def _prune(session: Session, table: Any, station_id: str, keep: int) -> None:
    count = session.exec(select(func.count()).select_from(table).where(table.station_id == station_id)).one()
    if count <= keep:
        return
    cutoff = session.exec(select(table.id).where(table.station_id == station_id)
                          .order_by(table.id.desc()).offset(keep)).first()
    session.exec(delete(table).where(table.station_id == station_id, table.id <= cutoff))


def station_event_alert(session: Session, station_id: str, event_type: str, tech_info: str | None) -> None:
    """A station's InvalidFirmwareSignature / InvalidFirmwareSigningCertificate event: an alert,
    naming the update it most likely belongs to (its newest)."""
    latest = session.exec(select(FirmwareUpdate).where(FirmwareUpdate.station_id == station_id)
                          .order_by(FirmwareUpdate.id.desc())).first()
    detail = {"request_id": latest.request_id, "image_id": latest.image_id} if latest is not None else {}
    alerts.raise_alert(session, station_id=station_id, event_type=event_type, rule=ALERT_RULE,
                       reason=f"the station reports {event_type}" + (f": {tech_info}" if tech_info else ""),
                       actor="system:firmware", detail=detail)


def updates(session: Session, station_id: str, limit: int = 100) -> list[FirmwareUpdate]:
    return list(session.exec(select(FirmwareUpdate).where(FirmwareUpdate.station_id == station_id)
                             .order_by(FirmwareUpdate.id.desc()).limit(limit)))


def history(session: Session, station_id: str, request_id: int | None = None,
            limit: int = 500) -> list[FirmwareStatusEvent]:
    query = select(FirmwareStatusEvent).where(FirmwareStatusEvent.station_id == station_id)
    if request_id is not None:
        query = query.where(FirmwareStatusEvent.request_id == request_id)
    return list(session.exec(query.order_by(FirmwareStatusEvent.id).limit(limit)))


# --- PublishFirmware (L03) ----------------------------------------------------------------------

LOCATIONS_MAX = 20


def record_publish_status(session: Session, station_id: str, status: str, request_id: int | None,
                          locations: Sequence[str]) -> None:
    session.add(PublishFirmwareStatus(station_id=station_id, status=status, request_id=request_id,
                                      locations=json.dumps(list(locations)[:LOCATIONS_MAX])))
    session.flush()
    _prune(session, PublishFirmwareStatus, station_id, PUBLISH_HISTORY_MAX)


def publish_statuses(session: Session, station_id: str, limit: int = 100) -> list[PublishFirmwareStatus]:
    return list(session.exec(select(PublishFirmwareStatus).where(PublishFirmwareStatus.station_id == station_id)
                             .order_by(PublishFirmwareStatus.id.desc()).limit(limit)))
