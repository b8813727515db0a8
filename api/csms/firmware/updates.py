"""Sending an UpdateFirmware (L01): the one workflow every door uses (the firmware route, the
typed command and the generic call, which hand the call here, and campaigns).

Checked and recorded in one audited transaction before anything leaves: the image passes
service.check_update for this station, a requestId is drawn and a one-time download location
made for it; then the command goes, and its answer is recorded (audited) whichever it is.
A refusal sends nothing and records nothing but its audit entry.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ocpp.v201.datatypes import FirmwareType
from sqlalchemy.exc import IntegrityError

from api.core.audit import Actor, audited, require_station, run_in_session
from api.core.refusal import Refusal
from api.csms.call_rules import check_firmware_signed
from api.csms.file_transfer.grants import MAX_TTL
from api.csms.firmware import registry, service
from api.csms.firmware.commands import UpdateFirmware
from api.csms.firmware.location import download_location
from api.csms.ids import draw_id
from api.ocpp.framing import OcppError
from api.ocpp.gateway import Gateway
from api.ocpp.handler import parse_datetime
from api.ocpp.session import ANSWERED, CallOutcome
from storage.firmware import FirmwareUpdate
from storage.types import utcnow

_DRAWS = 3


@dataclass(frozen=True)
class UpdateRequest:
    image_id: int
    retrieve_at: datetime | None = None     # None: now
    install_at: datetime | None = None
    retries: int | None = None
    retry_interval: int | None = None
    protocol: str | None = None             # None: chosen from what the station reported
    campaign_id: int | None = None


@dataclass(frozen=True)
class UpdateResult:
    update: FirmwareUpdate
    outcome: CallOutcome


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def redacted(url: str, grant_id: str) -> str:
    """The location without its secret (it follows the grant id in both URL forms), for the records."""
    return re.sub(rf"({re.escape(grant_id)}[/:])[^/@]+", r"\1***", url)


def _refuse_dates(retrieve_at: datetime, install_at: datetime | None, window: timedelta) -> None:
    """An install before the download is nonsense a station would only report as a failure; a
    retrieve time beyond what one download grant can cover would have been refused as a
    fault of the file service (409) instead of the officer's date."""
    if install_at is not None and install_at < retrieve_at:
        raise Refusal("firmware.date", f"installDateTime {_iso(install_at)} is before retrieveDateTime "
                                       f"{_iso(retrieve_at)}: a station installs only what it downloaded")
    latest = utcnow() + MAX_TTL - window
    if retrieve_at > latest:
        raise Refusal("firmware.date", f"retrieveDateTime {_iso(retrieve_at)} is too far ahead: a download "
                                       f"location lasts at most {MAX_TTL.days} days, so the latest retrieve time "
                                       f"now is {_iso(latest)}")


def _begin(gateway: Gateway, actor: Actor, station_id: str, wanted: UpdateRequest) -> tuple[FirmwareUpdate, dict]:
    for attempt in range(_DRAWS):
        try:
            return _begin_once(gateway, actor, station_id, wanted)
        except IntegrityError:
            # The requestId drawn was taken for this station: draw again (api/csms/ids.py).
            if attempt == _DRAWS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _begin_once(gateway: Gateway, actor: Actor, station_id: str, wanted: UpdateRequest) -> tuple[FirmwareUpdate, dict]:
    ctx = gateway.ctx
    with audited(ctx, actor, "firmware.update", station_id) as (session, detail):
        require_station(session, station_id)
        image = registry.image(session, wanted.image_id)
        detail.update(image_id=image.id, version=image.version, protocol=wanted.protocol or "auto",
                      **({"campaign_id": wanted.campaign_id} if wanted.campaign_id else {}))
        registry.refuse(service.check_update(ctx, session, station_id, image))
        request_id = draw_id()
        retrieve_at = wanted.retrieve_at or utcnow()
        _refuse_dates(retrieve_at, wanted.install_at, timedelta(minutes=ctx.policy.firmware.download_minutes))
        # Valid from now until the download window after the retrieve time has passed.
        ttl = max(retrieve_at - utcnow(), timedelta(0)) + timedelta(minutes=ctx.policy.firmware.download_minutes)
        download = download_location(session, registry.image_path(ctx, image), station_id=station_id,
                                     request_id=request_id, protocol=wanted.protocol,
                                     name=f"{image.name}-{image.version}.bin", ttl=ttl)
        command = UpdateFirmware(request_id=request_id, retries=wanted.retries, retry_interval=wanted.retry_interval,
                                 firmware=FirmwareType(location=download.url, retrieve_date_time=_iso(retrieve_at),
                                                       install_date_time=_iso(wanted.install_at)
                                                       if wanted.install_at else None,
                                                       signing_certificate=image.signing_certificate_pem,
                                                       signature=image.signature))
        payload = command.request()
        row = service.record_request(session, station_id=station_id, request_id=request_id, image=image,
                                     location=redacted(download.url, download.grant_id),
                                     grant_id=download.grant_id, retrieve_at=retrieve_at,
                                     install_at=wanted.install_at,
                                     requested_by=actor.name, campaign_id=wanted.campaign_id)
        detail.update(request_id=request_id, update_id=row.id, protocol=download.protocol,
                      location_expires_at=_iso(download.expires_at))
        session.expunge(row)
        return row, payload


def _finish(gateway: Gateway, actor: Actor, station_id: str, update: FirmwareUpdate,
            outcome: CallOutcome) -> FirmwareUpdate:
    answer = None
    if outcome.status == ANSWERED:
        answer = UpdateFirmware.parse(outcome.response).status
    with audited(gateway.ctx, actor, "firmware.update.result", station_id) as (session, detail):
        detail.update(request_id=update.request_id, call_status=outcome.status,
                      **({"status": answer} if answer else {}),
                      **({"error_code": outcome.error_code} if outcome.error_code else {}))
        row = service.record_answer(session, update.id, answer, outcome.status)
        session.expunge(row)
        return row


async def update_firmware(gateway: Gateway, actor: Actor, station_id: str, wanted: UpdateRequest,
                          timeout: float | None = None) -> UpdateResult:
    """Check, record and send one UpdateFirmware; its answer recorded. Raises Refusal before
    anything is sent or recorded (audited as refused); StationNotConnected, with nothing
    recorded, when the station has no session here."""
    gateway.require_reachable(station_id)
    update, payload = await asyncio.to_thread(_begin, gateway, actor, station_id, wanted)
    outcome = await gateway.send_call(station_id, UpdateFirmware.action, payload, timeout)
    finished = await asyncio.to_thread(_finish, gateway, actor, station_id, update, outcome)
    return UpdateResult(finished, outcome)


async def from_call_payload(gateway: Gateway, actor: Actor, station_id: str, payload: dict[str, Any],
                            timeout: float | None) -> CallOutcome:
    """UpdateFirmware through the typed command or the generic call: the payload must carry the
    signature and signing certificate of a registered image, which is then sent as the firmware
    route sends it, with a one-time location of ours in place of the one given."""
    decision = check_firmware_signed(payload)
    if not decision:
        raise Refusal(decision.rule, decision.reason)
    firmware = payload["firmware"]

    image = await asyncio.to_thread(run_in_session, gateway.ctx, lambda session: registry.by_signature(
        session, firmware["signingCertificate"], firmware["signature"]))
    if image is None:
        raise Refusal("call.firmware.unregistered",
                      "no registered firmware image has this signature and signing certificate; register the image "
                      "first (POST /api/v1/firmware/images), then send it with POST "
                      "/api/v1/stations/{id}/firmware-updates")
    try:
        retrieve_at = parse_datetime(firmware["retrieveDateTime"], "firmware.retrieveDateTime")
        install_at = (parse_datetime(firmware["installDateTime"], "firmware.installDateTime")
                      if firmware.get("installDateTime") else None)
    except OcppError as exc:
        raise Refusal("call.firmware.date", exc.description) from None
    wanted = UpdateRequest(image_id=image.id, retrieve_at=retrieve_at, install_at=install_at,
                           retries=payload.get("retries"), retry_interval=payload.get("retryInterval"),
                           protocol="ftp" if str(firmware.get("location", "")).lower().startswith("ftp") else "https")
    return (await update_firmware(gateway, actor, station_id, wanted, timeout)).outcome
