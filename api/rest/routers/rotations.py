"""Scripted rotations over REST: each POST runs the rotation's next pass and returns its report.

A pass is bounded in time (``max_seconds``); whatever it could not finish — offline stations,
stations still reconnecting — is in the report as pending, and the next POST with the same
parameters resumes (the report's ``parameters`` are what to send again). ``dry_run`` returns the
plan: nothing is sent to a station and nothing changes.

Roles. Station certificates: officer or operator (renewing station certificates is a station
operation, as POST /api/v1/certificate-renewals), except ``all``, which is officer only (a
fleet-wide renewal is the answer to a compromise). Server certificate and CSMS root: officer
only (CA-level changes). Status of the CSMS root rollover: every role.

Status codes: 200 the pass ran (a pending station is a result, not an error); 409 the rotation
cannot run now (``rule``: e.g. rollover.not_started, rotation.busy — another pass of the same
rotation is running in this process); 404 unknown CA; 422 invalid filter or refused by policy;
503 the OCPP gateway does not run in this process.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, Field

from api.core.audit import record_denied, run_in_session
from api.core.refusal import Refusal
from api.ocpp.transport.listener import Listeners
from api.rest import errors
from api.rest.auth import OFFICER, AnyRole, Ctx, OfficerOnly, StationOps
from api.rest.errors import ApiError
from api.rest.instants import Instant
from api.rest.request_body import RequestBody
from api.rest.routers.station_ops import GatewayDep
from api.rotation import (
    CertificateFilter,
    Report,
    rollover_view,
    rotate_csms_root,
    rotate_server_certificate,
    rotate_station_certificates,
)
from storage import advisory_locks

router = APIRouter(prefix="/api/v1/rotations", tags=["rotations"])

_LISTENERS, _LOCKS = "ocpp_listeners", "rotation_locks"
MaxSeconds = Field(60.0, ge=1, le=600, description="Time budget of this pass, waits included; what is left "
                                                   "is reported pending.")


def attach_listeners(app: FastAPI, listeners: Listeners) -> None:
    """The running OCPP listeners, so a rotation can reload their TLS material at once."""
    setattr(app.state, _LISTENERS, listeners)


def _listeners(request: Request) -> Listeners | None:
    return getattr(request.app.state, _LISTENERS, None)


def _lock(request: Request, rotation: str) -> asyncio.Lock:
    locks: dict[str, asyncio.Lock] = getattr(request.app.state, _LOCKS, None) or {}
    setattr(request.app.state, _LOCKS, locks)
    return locks.setdefault(rotation, asyncio.Lock())


async def _one_pass(request: Request, rotation: str, work) -> "ReportOut":
    """Run ``work()`` unless a pass of the same rotation runs already; refusals become HTTP."""
    lock = _lock(request, rotation)
    if lock.locked():
        raise ApiError(409, f"a {rotation} pass is running already; wait for its report", rule="rotation.busy")
    # With several nodes: one pass of a rotation in the whole cluster (a PostgreSQL advisory lock,
    # dropped with its connection if this node dies mid-pass).
    async with lock, advisory_locks.holding(request.app.state.ctx.engine, advisory_locks.rotation(rotation)) as got:
        if not got:
            raise ApiError(409, f"a {rotation} pass is running already on another node; wait for its report",
                           rule="rotation.busy")
        try:
            return ReportOut.of(await work())
        except Refusal:
            raise  # the app's handler answers with its rule (RotationRefused: 409)
        except ValueError as exc:
            raise ApiError(422, str(exc), rule="rotation.invalid") from None


# --- what a pass returns --------------------------------------------------------------------------

class ProgressOut(BaseModel):
    station: str | None = Field(description="The station; null for a step of the CSMS itself.")
    step: str
    outcome: str = Field(description="done, already, planned (dry run), pending (a re-run picks it up), failed, "
                                     "refused (an operator must act), skipped.")
    detail: str


class ReportOut(BaseModel):
    rotation: str
    dry_run: bool
    phase: str = Field(description="Where the rotation stands at the end of the pass.")
    complete: bool = Field(description="Nothing is left to do.")
    pending: list[str] = Field(description="Stations with a step left for a later pass.")
    counts: dict[str, int] = Field(description="Progress records by outcome.")
    parameters: dict[str, Any] = Field(description="Send these again to continue the same rotation.")
    progress: list[ProgressOut]
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, report: Report) -> "ReportOut":
        return cls(rotation=report.rotation, dry_run=report.dry_run, phase=report.phase, complete=report.complete,
                   pending=report.pending, counts=report.counts(), parameters=report.parameters,
                   progress=[ProgressOut(station=p.station, step=p.step, outcome=p.outcome, detail=p.detail)
                             for p in report.progress],
                   started_at=report.started_at, finished_at=report.finished_at)


_PASS_ERRORS = errors.responses(401, 403, 404, 409, 422, 503)


# --- station certificates -------------------------------------------------------------------------

class StationCertificatesIn(RequestBody):
    """Exactly one filter, applied to the certificate each station uses now."""

    dry_run: bool = False
    expiring_within_days: int | None = Field(None, ge=0, le=36500)
    issuer_id: str | None = Field(None, max_length=36, description="A station CA being replaced (not the one "
                                                                   "issuing now).")
    all: bool = Field(False, description="Every station certificate issued before `issued_before` (after a "
                                         "compromise). Officer only.")
    issued_before: Instant | None = Field(None, description="With `all`; default: the start of this pass. "
                                                             "Re-runs send the value the first report returned.")
    max_seconds: float = MaxSeconds


@router.post("/station-certificates", response_model=ReportOut, responses=_PASS_ERRORS)
async def rotate_station_certs(body: StationCertificatesIn, request: Request, principal: StationOps,
                               gateway: GatewayDep, ctx: Ctx) -> ReportOut:
    """Renew every station certificate matching the filter (TriggerMessage
    SignChargingStationCertificate); a station is done when it reconnected with its new
    certificate. Roles: officer, operator; `all`: officer."""
    if body.all and principal.role != OFFICER:
        await asyncio.to_thread(record_denied, ctx, principal.actor,
                                "POST /api/v1/rotations/station-certificates (all)", [OFFICER])
        raise ApiError(403, f"renewing every station certificate needs the role officer; token "
                            f"{principal.token_id} has the role {principal.role}", required_roles=[OFFICER])
    try:
        wanted = CertificateFilter(expiring_within_days=body.expiring_within_days, issuer_id=body.issuer_id,
                                   all=body.all, issued_before=body.issued_before)
    except ValueError as exc:
        raise ApiError(422, str(exc), rule="rotation.filter") from None
    return await _one_pass(request, "station-certificates", lambda: rotate_station_certificates(
        gateway, principal.actor, wanted, dry_run=body.dry_run, max_seconds=body.max_seconds))


# --- server certificate ---------------------------------------------------------------------------

class ServerCertificateIn(RequestBody):
    dry_run: bool = False
    issued_before: Instant | None = Field(None, description="Replace served certificates issued before this; "
                                                             "default: the start of this pass. Re-runs send the "
                                                             "value the first report returned (then they only reload).")
    fqdn: str | None = Field(None, max_length=253, description="Default: the name served now.")


@router.post("/server-certificate", response_model=ReportOut, responses=_PASS_ERRORS)
async def rotate_server_cert(body: ServerCertificateIn, request: Request, principal: OfficerOnly,
                             ctx: Ctx) -> ReportOut:
    """New CSMS server certificates (EC and RSA), then a hot reload of the wss listener: open
    connections stay, new handshakes get the new certificates. Role: officer."""
    return await _one_pass(request, "server-certificate", lambda: rotate_server_certificate(
        ctx, principal.actor, _listeners(request), issued_before=body.issued_before, fqdn=body.fqdn,
        dry_run=body.dry_run))


# --- CSMS root ------------------------------------------------------------------------------------

class CsmsRootIn(RequestBody):
    dry_run: bool = False
    begin: bool = Field(False, description="Start a rollover (stage generation n+1) when none is in progress; "
                                           "without it a pass only continues one.")
    force_retire: bool = Field(False, description="Retire the old generation although stations still depend on "
                                                  "it (they are locked out of profile 3). Needs `reason`.")
    reason: str | None = Field(None, max_length=500)
    max_seconds: float = MaxSeconds


@router.post("/csms-root", response_model=ReportOut, responses=_PASS_ERRORS)
async def rotate_root(body: CsmsRootIn, request: Request, principal: OfficerOnly, gateway: GatewayDep) -> ReportOut:
    """The next pass of the CSMS root rollover: stage, install the new root on every station
    (cross-signed for AdditionalRootCertificateCheck stations), switch the server certificates,
    re-issue station certificates, delete the old root per proven station, retire the old
    generation. Role: officer."""
    return await _one_pass(request, "csms-root", lambda: rotate_csms_root(
        gateway, principal.actor, _listeners(request), begin=body.begin, dry_run=body.dry_run,
        force_retire=body.force_retire, reason=body.reason, max_seconds=body.max_seconds))


class GenerationOut(BaseModel):
    generation: int
    state: str = Field(description="active, staged, trusted (older, still trusted) or retired.")
    root_name: str
    root_not_after: datetime
    cross_certified_by: list[int]
    serves_server_certificates: bool
    stations: int = Field(description="Stations whose newest certificate is from this generation.")


class StationPhaseOut(BaseModel):
    station: str
    phase: str = Field(description="The first phase the station still needs: install, reissue, delete; or done.")
    detail: str


class RolloverOut(BaseModel):
    phase: str = Field(description="idle, install, switch, reissue, delete, retire.")
    old_generation: int | None
    new_generation: int | None
    generations: list[GenerationOut]
    stations: list[StationPhaseOut]


@router.get("/csms-root", response_model=RolloverOut, responses=errors.responses(401, 403, 503))
async def root_status(_principal: AnyRole, ctx: Ctx) -> RolloverOut:
    """Where the CSMS root rollover stands, generation by generation and station by station.
    Roles: officer, operator, auditor."""
    view = await asyncio.to_thread(run_in_session, ctx, lambda s: rollover_view(ctx, s))
    return RolloverOut(
        phase=view.phase, old_generation=view.old, new_generation=view.new,
        generations=[GenerationOut(generation=g.generation, state=g.state, root_name=g.root_name,
                                   root_not_after=g.root_not_after, cross_certified_by=list(g.cross_certified_by),
                                   serves_server_certificates=g.serves_server_certificates, stations=g.stations)
                     for g in view.generations],
        stations=[StationPhaseOut(station=p.station, phase=p.phase, detail=p.detail) for p in view.stations])
