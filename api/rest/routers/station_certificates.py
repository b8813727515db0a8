"""Renewing station certificates over OCPP (A02): one station, or a filtered set of the fleet.

A renewal request is stored and answered 202 at once; the gateway's outbox worker sends the
TriggerMessage when the station is connected (scheduled and bulk ones paced by
``[renewal] max_per_minute``), the station sends a CSR, and the signed chain follows as
CertificateSigned. Each request is a stored call: poll it at its ``url``
(GET /api/v1/stations/{station_id}/calls/{call_id}).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from api.csms.outbox import signal as outbox_signal
from api.csms.security.renewal import CHARGING_STATION_CERTIFICATE, TRIGGERS, NoSuchIssuer, RenewalBatch, Selection
from api.csms.security.service import request_certificate_renewal, request_certificate_renewals
from api.rest import errors
from api.rest.auth import OFFICER, Ctx, StationOps, require_role
from api.rest.errors import ApiError
from api.rest.request_body import RequestBody
from storage.outbox import OutboundCall

router = APIRouter(prefix="/api/v1", tags=["certificates"])

CertificateType = Literal[tuple(TRIGGERS)]  # type: ignore[valid-type]


def _call_url(station_id: str, call_id: int) -> str:
    return f"/api/v1/stations/{station_id}/calls/{call_id}"


class RenewalIn(RequestBody):
    certificate_type: CertificateType = Field(  # type: ignore[valid-type]
        CHARGING_STATION_CERTIFICATE, description="ChargingStationCertificate (TriggerMessage "
        "SignChargingStationCertificate) or V2GCertificate (SignV2GCertificate).")


class RenewalOut(BaseModel):
    station_id: str
    call_id: int
    status: str = Field(description="The stored TriggerMessage: pending, sent, answered, error, timeout, failed.")
    already_waiting: bool = Field(description="A renewal request for this station was already waiting; it "
                                              "stands, no second one was stored.")
    next_attempt_at: datetime | None
    url: str

    @classmethod
    def of(cls, row: OutboundCall, already_waiting: bool) -> "RenewalOut":
        return cls(station_id=row.station_id, call_id=row.id, status=row.status, already_waiting=already_waiting,
                   next_attempt_at=row.next_attempt_at, url=_call_url(row.station_id, row.id))


@router.post("/stations/{station_id}/certificate-renewal", status_code=202, response_model=RenewalOut,
             responses=errors.responses(401, 403, 404, 422, 503))
async def renew_station_certificate(station_id: str, principal: StationOps, ctx: Ctx,
                                    body: RenewalIn | None = None) -> RenewalOut:
    """Ask the station for a new CSR now (TriggerMessage SignChargingStationCertificate, A02;
    TC_A_11's manual action). Sent as soon as the station is connected, not paced. Audited.
    Roles: officer, operator."""
    body = body or RenewalIn()
    row, waiting = await asyncio.to_thread(request_certificate_renewal, ctx, principal.actor,
                                           station_id, body.certificate_type)
    outbox_signal.ring()
    return RenewalOut.of(row, waiting)


class RenewalsIn(RequestBody):
    """Exactly one filter, applied to the certificate each station uses now."""

    expiring_within_days: int | None = Field(None, ge=0, le=36500,
                                             description="Stations whose certificate expires within this many days.")
    issuer_id: str | None = Field(None, max_length=36, description="Stations whose certificate this CA issued "
                                                                   "(e.g. a sub-CA being replaced).")
    all: bool = Field(False, description="Every station with a certificate in use (after a key compromise). "
                                         "Officer only.")


class QueuedOut(BaseModel):
    station_id: str
    call_id: int
    next_attempt_at: datetime
    url: str


class SkippedOut(BaseModel):
    station_id: str
    reason: str


class RenewalsOut(BaseModel):
    filter: str
    queued: list[QueuedOut]
    skipped: list[SkippedOut]

    @classmethod
    def of(cls, selection: Selection, batch: RenewalBatch) -> "RenewalsOut":
        return cls(filter=selection.describe(),
                   queued=[QueuedOut(station_id=q.station_id, call_id=q.call_id, next_attempt_at=q.next_attempt_at,
                                     url=_call_url(q.station_id, q.call_id)) for q in batch.queued],
                   skipped=[SkippedOut(station_id=s.station_id, reason=s.reason) for s in batch.skipped])


@router.post("/certificate-renewals", status_code=202, response_model=RenewalsOut,
             responses=errors.responses(401, 403, 404, 422, 503))
async def renew_certificates(body: RenewalsIn, principal: StationOps, ctx: Ctx, request: Request) -> RenewalsOut:
    """Ask a filtered set of stations for new CSRs; returns the stations queued, each with the
    time its TriggerMessage is due (paced by [renewal] max_per_minute), and those skipped
    because a renewal is already in flight. Audited. Roles: officer, operator; `all`: officer."""
    # An auditor is refused before the body is read, as on every route that changes something;
    # the whole fleet at once is an officer's decision.
    if body.all:
        await require_role(OFFICER)(request, principal)
    try:
        selection = Selection(expiring_within_days=body.expiring_within_days, issuer_id=body.issuer_id,
                              everything=body.all)
    except ValueError as exc:
        raise ApiError(422, str(exc), rule="renewal.filter") from None
    try:
        batch = await asyncio.to_thread(request_certificate_renewals, ctx, principal.actor, selection)
    except NoSuchIssuer as exc:
        raise ApiError(404, str(exc), field="issuer_id") from None
    outbox_signal.ring()
    return RenewalsOut.of(selection, batch)
