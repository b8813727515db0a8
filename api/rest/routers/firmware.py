"""Block L over REST: the firmware registry (manufacturer roots, images, revoked signing
certificates, ChargeCA's own signer), UpdateFirmware to a station and what became of it, the
statuses local controllers report, and campaigns across a fleet.

Roles. Reading: officer, operator, auditor. Everything that changes the registry, sends firmware
or runs a campaign: officer (firmware decides what code the stations run).

Uploading an image streams the body (``application/octet-stream``) to disk, hashing it, within
``[firmware] max_image_mb`` (413 beyond); the signature travels in ``X-Firmware-Signature``
(Base64) and the manufacturer's signing certificate in ``X-Firmware-Signing-Certificate`` (its PEM,
Base64-encoded, so it fits a header), or ``?sign=true`` has ChargeCA sign it. Nothing is kept of a
refused upload.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import json
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.core.audit import require_station, run_in_session
from api.core.refusal import Refusal
from api.csms.firmware import registry, service
from api.csms.firmware.location import PROTOCOLS
from api.csms.firmware.updates import UpdateRequest, update_firmware
from api.rest import errors
from api.rest.auth import AnyRole, Ctx, OfficerOnly
from api.rest.errors import ApiError
from api.rest.instants import Instant
from api.rest.numbers import INT32_MAX, INT32_MIN, RowId
from api.rest.request_body import RequestBody
from api.rest.routers.commands import answered_outcome
from api.rest.routers.station_ops import GatewayDep
from api.rotation import firmware_campaigns as campaigns
from storage.firmware import RUNNING, STOPPED

router = APIRouter(tags=["firmware"])

IMAGES_PATH = "/api/v1/firmware/images"
_WRITE_BATCH = 1 << 20
Protocol = Literal[PROTOCOLS]  # type: ignore[valid-type]


# --- registry ----------------------------------------------------------------------------------

class RootIn(RequestBody):
    certificate: str = Field(max_length=10000, description="The manufacturer root, PEM (self-signed CA).")


class RootOut(BaseModel):
    id: int
    subject: str
    sha256: str
    not_after: datetime
    managed: bool = Field(description="ChargeCA's own manufacturer root (its key in the key store).")
    certificate: str

    @classmethod
    def of(cls, row) -> RootOut:
        return cls(id=row.id, subject=row.subject, sha256=row.sha256, not_after=row.not_after,
                   managed=row.authority_id is not None, certificate=row.certificate_pem)


class ImageOut(BaseModel):
    id: int
    name: str
    version: str
    sha256: str
    size: int
    signed_by: str = Field(description="manufacturer, or chargeca (signed with ChargeCA's firmware-signing key).")
    root_id: int
    signature: str
    signing_certificate: str
    uploaded_by: str
    created_at: datetime

    @classmethod
    def of(cls, row) -> ImageOut:
        return cls(id=row.id, name=row.name, version=row.version, sha256=row.sha256, size=row.size,
                   signed_by=row.signed_by, root_id=row.root_id, signature=row.signature,
                   signing_certificate=row.signing_certificate_pem, uploaded_by=row.uploaded_by,
                   created_at=row.created_at)


class SignerOut(BaseModel):
    root: RootOut | None = None
    signing_certificate: str
    serial: str
    not_after: datetime


class RevocationIn(RequestBody):
    certificate: str = Field(max_length=10000, description="The manufacturer's signing certificate, PEM.")
    reason: str = Field("", max_length=500)


@router.get("/api/v1/firmware/roots", response_model=list[RootOut], responses=errors.responses(401, 403, 503))
async def list_roots(_principal: AnyRole, ctx: Ctx) -> list[RootOut]:
    """Manufacturer roots firmware may chain to. Install the one an image names on its stations
    as ManufacturerRootCertificate. Roles: officer, operator, auditor."""
    return await asyncio.to_thread(run_in_session, ctx, lambda s: [RootOut.of(r) for r in registry.roots(s)])


@router.post("/api/v1/firmware/roots", response_model=RootOut, responses=errors.responses(401, 403, 422, 503))
async def add_root(body: RootIn, principal: OfficerOnly, ctx: Ctx) -> RootOut:
    """Add a manufacturer's root (self-signed CA). Role: officer."""
    return RootOut.of(await asyncio.to_thread(registry.add_root, ctx, principal.actor, body.certificate))


def _signer_out(ctx, signer) -> SignerOut:
    def root(session):
        rows = [r for r in registry.roots(session) if r.authority_id == signer.root.id]
        return RootOut.of(rows[0]) if rows else None
    return SignerOut(root=run_in_session(ctx, root), signing_certificate=signer.record.certificate_pem,
                     serial=signer.record.serial_hex, not_after=signer.record.not_after)


@router.get("/api/v1/firmware/signer", response_model=SignerOut, responses=errors.responses(401, 403, 404, 503))
async def get_signer(_principal: AnyRole, ctx: Ctx) -> SignerOut:
    """ChargeCA's firmware-signing certificate and the manufacturer root it chains to. Roles: all."""
    return await asyncio.to_thread(lambda: _signer_out(ctx, registry.signer_view(ctx)))


@router.post("/api/v1/firmware/signer", response_model=SignerOut, responses=errors.responses(401, 403, 503))
async def ensure_signer(principal: OfficerOnly, ctx: Ctx) -> SignerOut:
    """Create ChargeCA's manufacturer root and firmware-signing key (in the key store: an encrypted
    file or the HSM) if they do not exist; return them. Role: officer."""
    return await asyncio.to_thread(lambda: _signer_out(ctx, registry.signer_view(ctx, principal.actor)))


def _header_pem(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ApiError(422, "X-Firmware-Signing-Certificate must be the PEM certificate, Base64-encoded",
                       rule="firmware.certificate.format", field="header.x-firmware-signing-certificate") from None


@router.post(IMAGES_PATH, response_model=ImageOut, status_code=201,
             responses=errors.responses(401, 403, 413, 422, 503))
async def upload_image(request: Request, principal: OfficerOnly, ctx: Ctx,
                       name: str = Query(min_length=1, max_length=200),
                       version: str = Query(min_length=1, max_length=50,
                                            description="What the station reports as firmwareVersion once installed."),
                       sign: bool = Query(False, description="ChargeCA signs it with its firmware-signing key."),
                       x_firmware_signature: str | None = Header(None, max_length=800),
                       x_firmware_signing_certificate: str | None = Header(None, max_length=8000)) -> ImageOut:
    """Register a firmware image (the body, streamed). Role: officer."""
    image = registry.ImageIn(name=name, version=version, signature=x_firmware_signature, sign=sign)
    try:
        image = dataclasses.replace(image, signing_certificate=_header_pem(x_firmware_signing_certificate))
        registry.check_names(image)
        staged = await _stage(request, ctx)
    except (Refusal, ApiError) as exc:
        # register_image audits what it refuses; these come before it, and are the officer's too.
        refused = exc if isinstance(exc, Refusal) else Refusal(exc.rule or "firmware.image", exc.message)
        await asyncio.to_thread(registry.refused_upload, ctx, principal.actor, image, refused)
        if isinstance(exc, Refusal) and exc.rule == "firmware.image.size":
            raise ApiError(413, str(exc), rule=exc.rule) from None
        raise
    return ImageOut.of(await asyncio.to_thread(registry.register_image, ctx, principal.actor, staged, image))


async def _stage(request: Request, ctx) -> registry.Staged:
    stager = await asyncio.to_thread(registry.Stager, ctx)
    pending = bytearray()
    try:
        async for chunk in request.stream():
            pending += chunk
            if len(pending) >= _WRITE_BATCH:
                await asyncio.to_thread(stager.write, bytes(pending))
                pending.clear()
        await asyncio.to_thread(stager.write, bytes(pending))
        return await asyncio.to_thread(stager.finish)
    except Refusal:
        raise  # the stager has removed its file
    except BaseException:
        await asyncio.to_thread(stager.abort)
        raise


@router.get(IMAGES_PATH, response_model=list[ImageOut], responses=errors.responses(401, 403, 503))
async def list_images(_principal: AnyRole, ctx: Ctx) -> list[ImageOut]:
    """Registered images, newest first. Roles: officer, operator, auditor."""
    return await asyncio.to_thread(run_in_session, ctx, lambda s: [ImageOut.of(r) for r in registry.images(s)])


@router.get(IMAGES_PATH + "/{image_id}", response_model=ImageOut, responses=errors.responses(401, 403, 404, 503))
async def get_image(image_id: RowId, _principal: AnyRole, ctx: Ctx) -> ImageOut:
    """One registered image. Roles: officer, operator, auditor."""
    return await asyncio.to_thread(run_in_session, ctx, lambda s: ImageOut.of(registry.image(s, image_id)))


@router.post("/api/v1/firmware/revocations", status_code=201, responses=errors.responses(401, 403, 422, 503))
async def revoke(body: RevocationIn, principal: OfficerOnly, ctx: Ctx) -> dict[str, Any]:
    """Declare a manufacturer's signing certificate revoked: no firmware signed under it is sent
    again. (ChargeCA's own is revoked like any certificate it issued.) Role: officer."""
    row = await asyncio.to_thread(registry.revoke_certificate, ctx, principal.actor, body.certificate, body.reason)
    return {"id": row.id, "sha256": row.sha256, "subject": row.subject, "revoked_at": row.revoked_at}


# --- updates -----------------------------------------------------------------------------------

class UpdateIn(RequestBody):
    image_id: int = Field(ge=1, le=INT32_MAX)
    retrieve_date_time: Instant | None = Field(None, description="When to download; default now (a later "
                                                "time: the station reports DownloadScheduled).")
    install_date_time: Instant | None = Field(None, description="When to install (InstallScheduled).")
    retries: int | None = Field(None, ge=0, le=INT32_MAX)
    retry_interval: int | None = Field(None, ge=0, le=INT32_MAX)
    protocol: Protocol | None = Field(None, description="How the station downloads it: https or ftp; default: "
                                      "chosen among the file servers that run and what the station reported "
                                      "(OCPPCommCtrlr.FileTransferProtocols), https first.")
    timeout: float | None = Field(None, gt=0, le=300)


class UpdateOut(BaseModel):
    id: int
    request_id: int
    image_id: int
    campaign_id: int | None
    location: str = Field(description="The download location sent, its secret replaced by ***.")
    retrieve_at: datetime
    install_at: datetime | None
    answer: str | None = Field(description="The station's UpdateFirmware answer.")
    status: str = Field(description="requested; the answer; then the latest FirmwareStatusNotification; cancelled "
                                    "(a later request was answered AcceptedCanceled); error/timeout/not_connected.")
    requested_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row) -> UpdateOut:
        return cls.model_validate(row, from_attributes=True)


class StatusOut(BaseModel):
    request_id: int | None
    status: str
    received_at: datetime


def _aware(moment: datetime | None, field: str) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        raise ApiError(422, f"{field} needs a time zone", rule="firmware.date", field=f"body.{field}")
    return moment


@router.post("/api/v1/stations/{station_id}/firmware-updates",
             responses={409: {"model": errors.ErrorBody, "description": "station not connected."},
                        **errors.responses(401, 403, 404, 422, 503)})
async def send_update(station_id: str, body: UpdateIn, principal: OfficerOnly, gateway: GatewayDep) -> dict[str, Any]:
    """UpdateFirmware (L01) of a registered image, after the check (its root held by the station,
    valid, not revoked, its signature over the image), with a one-time download location. The
    answer is the update as recorded and the typed outcome. Role: officer."""
    wanted = UpdateRequest(image_id=body.image_id, retrieve_at=_aware(body.retrieve_date_time, "retrieve_date_time"),
                           install_at=_aware(body.install_date_time, "install_date_time"), retries=body.retries,
                           retry_interval=body.retry_interval, protocol=body.protocol)
    result = await update_firmware(gateway, principal.actor, station_id, wanted, body.timeout)
    return {"update": UpdateOut.of(result.update).model_dump(),
            **answered_outcome("UpdateFirmware", result.outcome).model_dump()}


@router.get("/api/v1/stations/{station_id}/firmware-updates", response_model=list[UpdateOut],
            responses=errors.responses(401, 403, 404, 503))
async def list_updates(station_id: str, _principal: AnyRole, ctx: Ctx) -> list[UpdateOut]:
    """The station's firmware updates, newest first. Roles: all."""
    def read(session):
        require_station(session, station_id)
        return [UpdateOut.of(r) for r in service.updates(session, station_id)]
    return await asyncio.to_thread(run_in_session, ctx, read)


@router.get("/api/v1/stations/{station_id}/firmware-statuses", response_model=list[StatusOut],
            responses=errors.responses(401, 403, 404, 503))
async def list_statuses(station_id: str, _principal: AnyRole, ctx: Ctx,
                        request_id: int | None = Query(None, ge=INT32_MIN, le=INT32_MAX)) -> list[StatusOut]:
    """Every FirmwareStatusNotification of the station (or of one requestId), oldest first. Roles: all."""
    def read(session):
        require_station(session, station_id)
        return [StatusOut(request_id=r.request_id, status=r.status, received_at=r.received_at)
                for r in service.history(session, station_id, request_id)]
    return await asyncio.to_thread(run_in_session, ctx, read)


@router.get("/api/v1/stations/{station_id}/publish-firmware-statuses", responses=errors.responses(401, 403, 404, 503))
async def list_publish_statuses(station_id: str, _principal: AnyRole, ctx: Ctx) -> list[dict[str, Any]]:
    """PublishFirmwareStatusNotifications of a local controller (L03), newest first. Roles: all."""
    def read(session):
        require_station(session, station_id)
        return [{"status": r.status, "request_id": r.request_id, "locations": json.loads(r.locations),
                 "received_at": r.received_at} for r in service.publish_statuses(session, station_id)]
    return await asyncio.to_thread(run_in_session, ctx, read)


# --- campaigns ---------------------------------------------------------------------------------

class CampaignIn(RequestBody):
    image_id: int = Field(ge=1, le=INT32_MAX)
    station_filter: str = Field("*", min_length=1, max_length=200, description="A glob over station ids.")
    per_minute: int = Field(10, ge=1, le=100_000, description="Pacing: UpdateFirmware sent per minute at most.")
    max_failures: int = Field(1, ge=1, le=campaigns.FAILURES_MAX, description="Halt once this many stations failed.")
    install_delay_minutes: int = Field(0, ge=0, le=43200)
    protocol: Protocol | None = Field(None, description="https or ftp for every station; default: each station's "
                                      "chosen from what it reported (OCPPCommCtrlr.FileTransferProtocols), https "
                                      "first (shown as `auto`).")
    final_status_minutes: int | None = Field(None, ge=1, le=43200, description="A station that reports no final "
                                             "status (Installed or a failure) this long after its UpdateFirmware "
                                             "(or its install time) counts as failed (`firmware.no_final_status`); "
                                             "default: the [firmware] policy's campaign_final_status_minutes.")
    dry_run: bool = Field(False, description="Return the plan (each station, whether it would pass the check); "
                                             "nothing is stored or sent.")


class CampaignStationOut(BaseModel):
    station_id: str
    state: str = Field(description="waiting, sent, installed, failed (`detail` says why: the check's rule, the "
                                   "station's status, or firmware.no_final_status for a station gone silent).")
    update_id: int | None
    detail: str
    updated_at: datetime


class CampaignOut(BaseModel):
    id: int
    image_id: int
    station_filter: str
    per_minute: int
    max_failures: int
    install_delay_minutes: int
    protocol: str
    final_status_minutes: int | None = Field(description="null: the [firmware] policy's "
                                             "campaign_final_status_minutes.")
    status: str = Field(description="running, stopped, halted (failure threshold reached), finished.")
    detail: str
    counts: dict[str, int]
    stations: list[CampaignStationOut]
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, shown: campaigns.CampaignView) -> CampaignOut:
        c = shown.campaign
        return cls(id=c.id, image_id=c.image_id, station_filter=c.station_filter, per_minute=c.per_minute,
                   max_failures=c.max_failures, install_delay_minutes=c.install_delay_minutes, protocol=c.protocol,
                   final_status_minutes=c.final_status_minutes, status=c.status, detail=c.detail, counts=shown.counts,
                   stations=[CampaignStationOut.model_validate(s, from_attributes=True) for s in shown.stations],
                   created_by=c.created_by, created_at=c.created_at)


class ResumeIn(RequestBody):
    max_failures: int | None = Field(None, ge=1, le=campaigns.FAILURES_MAX, description="A new failure threshold.")


@router.post("/api/v1/firmware/campaigns", responses=errors.responses(401, 403, 404, 422, 503))
async def create_campaign(body: CampaignIn, principal: OfficerOnly, ctx: Ctx) -> Any:
    """Start a campaign (201 with it), or with ``dry_run`` its plan (200). Role: officer."""
    spec = campaigns.CampaignSpec(image_id=body.image_id, station_filter=body.station_filter,
                                  per_minute=body.per_minute, max_failures=body.max_failures,
                                  install_delay_minutes=body.install_delay_minutes,
                                  protocol=body.protocol or campaigns.AUTO,
                                  final_status_minutes=body.final_status_minutes)
    if body.dry_run:
        planned = await asyncio.to_thread(campaigns.plan, ctx, spec)
        return {"dry_run": True, "stations": [{"station_id": p.station_id, "ready": p.ready, "detail": p.detail}
                                              for p in planned]}
    made = await asyncio.to_thread(campaigns.create, ctx, principal.actor, spec)
    return JSONResponse(jsonable_encoder(CampaignOut.of(made)), status_code=201)


@router.get("/api/v1/firmware/campaigns", response_model=list[CampaignOut], responses=errors.responses(401, 403, 503))
async def list_campaigns(_principal: AnyRole, ctx: Ctx) -> list[CampaignOut]:
    """Campaigns, newest first, each with its stations' progress. Roles: all."""
    return await asyncio.to_thread(run_in_session, ctx, lambda s: [CampaignOut.of(v) for v in campaigns.listed(s)])


@router.get("/api/v1/firmware/campaigns/{campaign_id}", response_model=CampaignOut,
            responses=errors.responses(401, 403, 404, 503))
async def get_campaign(campaign_id: RowId, _principal: AnyRole, ctx: Ctx) -> CampaignOut:
    """A campaign with each station's progress. Roles: all."""
    return await asyncio.to_thread(run_in_session, ctx, lambda s: CampaignOut.of(campaigns.view(s, campaign_id)))


@router.post("/api/v1/firmware/campaigns/{campaign_id}/stop", response_model=CampaignOut,
             responses=errors.responses(401, 403, 404, 409, 503))
async def stop_campaign(campaign_id: RowId, principal: OfficerOnly, ctx: Ctx) -> CampaignOut:
    """Stop sending (what was sent runs on at the stations). Role: officer."""
    return CampaignOut.of(await asyncio.to_thread(campaigns.set_status, ctx, principal.actor, campaign_id, STOPPED))


@router.post("/api/v1/firmware/campaigns/{campaign_id}/resume", response_model=CampaignOut,
             responses=errors.responses(401, 403, 404, 409, 422, 503))
async def resume_campaign(campaign_id: RowId, principal: OfficerOnly, ctx: Ctx,
                          body: ResumeIn | None = None) -> CampaignOut:
    """Resume a stopped or halted campaign, optionally with a new failure threshold. Role: officer."""
    shown = await asyncio.to_thread(campaigns.set_status, ctx, principal.actor, campaign_id, RUNNING,
                                    max_failures=body.max_failures if body else None)
    return CampaignOut.of(shown)
