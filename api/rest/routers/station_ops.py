"""Operating connected stations over OCPP: connections, CSMS calls, boot policy, password rotation.

The routes reach stations through the OCPP gateway running in the same process and on the same
event loop (``attach_gateway`` puts it on the app); they are ``async`` for that reason, and do
their database work on worker threads.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.core.audit import Actor
from api.core.credentials import PASSWORD_MAX
from api.core.settings import boot_statuses
from api.csms import job_control
from api.csms.operator_calls import CallJobs, InvalidCallPayload, call_now
from api.csms.provisioning import service as provisioning
from api.csms.routes import ANSWERS
from api.csms.security.password_rotation import RotationResult, rotate_password
from api.csms.security.service import PASSWORD_LENGTH_MAX
from api.ocpp.command import BadAnswer
from api.ocpp.gateway import Gateway
from api.ocpp.session import NOT_CONNECTED, TIMEOUT, CallOutcome, OcppSession
from api.rest import errors
from api.rest.auth import AnyRole, Ctx, StationOps
from api.rest.errors import ApiError
from api.rest.numbers import RowId
from api.rest.paging import Before, Limit, page_of
from api.rest.request_body import RequestBody
from storage.outbox import CallStatus, OutboundCall

router = APIRouter(tags=["station operations"])

_GATEWAY, _JOBS = "ocpp_gateway", "ocpp_jobs"


def attach_gateway(app: FastAPI, gateway: Gateway) -> CallJobs:
    """Make ``gateway`` (on this app's event loop) the one these routes use."""
    jobs = CallJobs(gateway)
    setattr(app.state, _GATEWAY, gateway)
    setattr(app.state, _JOBS, jobs)
    return jobs


def _running_gateway(request: Request) -> Gateway:
    gateway = getattr(request.app.state, _GATEWAY, None)
    if gateway is None:
        raise ApiError(503, "the OCPP gateway does not run in this process")
    return gateway


# async: a plain def dependency runs on a worker thread (api/rest/auth.py, _context).
async def _gateway(request: Request) -> Gateway:
    return _running_gateway(request)


async def _jobs(request: Request) -> CallJobs:
    _running_gateway(request)
    return getattr(request.app.state, _JOBS)


async def _transactions_settled(request: Request) -> None:
    """What this process answered of the stations' TransactionEvents is stored before it is read
    (storage/write_behind.py); another node's events may be its write_behind_ms late."""
    gateway = getattr(request.app.state, _GATEWAY, None)
    if gateway is not None:
        await gateway.transactions_settled()


GatewayDep = Annotated[Gateway, Depends(_gateway)]
TransactionsSettled = Annotated[None, Depends(_transactions_settled)]
JobsDep = Annotated[CallJobs, Depends(_jobs)]


# --- connections ------------------------------------------------------------------------------

class ConnectorOut(BaseModel):
    evse_id: int
    connector_id: int
    status: str


class ConnectionOut(BaseModel):
    station_id: str
    security_profile: int
    tls_version: str | None
    cipher: str | None
    client_certificate_serial: str | None
    connected_at: datetime
    boot_status: str = Field(description="How this connection's BootNotification was answered: Accepted, "
                                         "Pending, Rejected, or Unknown (not booted yet).")
    connectors: list[ConnectorOut]

    @classmethod
    def of(cls, session: OcppSession) -> "ConnectionOut":
        connection = session.connection
        return cls(station_id=session.station_id, security_profile=connection.security_profile,
                   tls_version=getattr(connection, "tls_version", None), cipher=getattr(connection, "cipher", None),
                   client_certificate_serial=getattr(connection, "client_certificate_serial", None),
                   connected_at=getattr(connection, "connected_at", session.connected_at),
                   boot_status=session.boot.status,
                   connectors=[ConnectorOut(evse_id=evse, connector_id=connector, status=status)
                               for (evse, connector), status in sorted(session.live.connectors.items())])


@router.get("/api/v1/connections", response_model=list[ConnectionOut], tags=["station operations"],
            responses=errors.responses(401, 403, 503))
async def list_connections(_principal: AnyRole, gateway: GatewayDep) -> list[ConnectionOut]:
    """Stations connected to this node now, by identity. Roles: officer, operator, auditor."""
    return sorted((ConnectionOut.of(s) for s in gateway.sessions()), key=lambda c: c.station_id)


# --- CSMS-initiated calls ---------------------------------------------------------------------

class CallRequest(RequestBody):
    action: str = Field(max_length=64, description="A CSMS-initiated OCPP 2.0.1 action, e.g. TriggerMessage.")
    payload: dict[str, Any] = Field(default_factory=dict, description="The request payload, checked against "
                                    "the action's OCPP 2.0.1 schema before anything is sent.")
    mode: Literal["sync", "async"] = Field("sync", description="sync: wait for the station's answer; async: "
                                           "store the call (202) and poll it; it is sent when the station is "
                                           "connected.")
    timeout: float | None = Field(None, gt=0, le=300, description="Seconds to wait for the answer "
                                  "(queueing behind other calls included). Default: the gateway's.")


class CallOutcomeOut(BaseModel):
    status: Literal["answered", "error", "timeout", "not_connected"]
    response: dict[str, Any] | None = None
    error_code: str | None = None
    description: str = ""
    sent: bool

    @classmethod
    def of(cls, outcome: CallOutcome) -> "CallOutcomeOut":
        return cls(status=outcome.status, response=outcome.response, error_code=outcome.error_code,
                   description=outcome.description, sent=outcome.sent)


class CallPartOut(BaseModel):
    id: int
    status: str = Field(description="held (waiting for the part before it), pending, sent, answered or failed.")
    items: int = Field(description="Entries this message carries.")
    attempts: int
    error: str | None


class CallJobOut(BaseModel):
    id: int
    station_id: str
    action: str
    status: str = Field(description="pending, sent, answered or failed (`error` says why: a CALLERROR, no answer "
                        "after [delivery] max_attempts, or the rule that refused it as it left).")
    response: dict[str, Any] | None = Field(description="The station's answer as it came (the OCPP payload).")
    result: Any = Field(None, description="The same answer read into the command's typed result, its fields in "
                        "snake_case as a typed command answers them (`POST …/commands/{action}`); null until "
                        "answered, and when the answer breaks the action's response schema (`result_error` says how).")
    result_error: str | None = None
    error: str | None
    attempts: int
    parts: list[CallPartOut] | None = Field(None, description="A Get/SetVariables job the station takes only in "
                                            "several messages (its DeviceDataCtrlr limits): each message, sent one "
                                            "after the other; the job is answered with their answers merged in the "
                                            "order asked, or fails with the first part that fails. Null: one message.")
    created_by: str
    created_at: datetime
    updated_at: datetime
    url: str

    @classmethod
    def of(cls, row: OutboundCall, parts: list[OutboundCall] = ()) -> "CallJobOut":
        response = json.loads(row.response) if row.response else None
        result, result_error = _read_answer(row.action, response) if row.status == CallStatus.ANSWERED else (None, None)
        return cls(id=row.id, station_id=row.station_id, action=row.action, status=row.status,
                   response=response, result=result, result_error=result_error, error=row.error,
                   attempts=row.attempts, parts=[_part(part) for part in parts] or None, created_by=row.created_by,
                   created_at=row.created_at, updated_at=row.updated_at, url=_job_url(row))


def _part(row: OutboundCall) -> CallPartOut:
    payload = json.loads(row.payload)
    items = next((len(value) for value in payload.values() if isinstance(value, list)), 0)
    return CallPartOut(id=row.id, status=row.status, items=items, attempts=row.attempts, error=row.error)


def _read_answer(action: str, response: dict[str, Any] | None) -> tuple[Any, str | None]:
    """A job's answer read as the action's command reads it (api/csms/routes.py ANSWERS)."""
    if response is None or action not in ANSWERS:
        return None, None
    try:
        return ANSWERS[action](response), None
    except BadAnswer as exc:
        return None, str(exc)


def _job_url(row: OutboundCall) -> str:
    return f"/api/v1/stations/{row.station_id}/calls/{row.id}"


def _invalid_payload(exc: InvalidCallPayload) -> ApiError:
    field = f"payload.{exc.field}" if exc.field else "payload"
    return ApiError(422, str(exc), rule=exc.rule, field=field, ocpp_error_code=exc.code)


@router.post("/api/v1/stations/{station_id}/calls", response_model=CallOutcomeOut,
             responses={202: {"model": CallJobOut, "description": "async: stored, poll `url`."},
                        409: {"model": errors.ErrorBody, "description": "sync: station not connected."},
                        504: {"model": errors.ErrorBody, "description": "sync: no answer in time."},
                        **errors.responses(401, 403, 404, 422, 503)})
async def send_call(station_id: str, body: CallRequest, principal: StationOps, gateway: GatewayDep,
                    jobs: JobsDep) -> CallOutcomeOut | JSONResponse:
    """Send a CSMS-initiated message to a station. Roles: officer, operator; each action has its
    own (api/csms/call_rules.py), 403 with rule `call.role` otherwise.

    Officer-only, and never sent raw: InstallCertificate and DeleteCertificate run the
    trust-anchor workflow with its safety rules (sync only); CertificateSigned only with a chain
    ChargeCA issued for this station (`call.certificate_signed.*`); SetNetworkProfile never
    below the station's profile (`call.network_profile.lower`), one of profiles 1–3
    (`call.network_profile.profile`); UpdateFirmware signed only
    (`call.firmware.unsigned`); Reset without evseId; SetVariables of SecurityCtrlr. Refused on
    this route, naming the one to use: SecurityCtrlr.BasicAuthPassword (password-rotation),
    OCPPCommCtrlr.NetworkConfigurationPriority (security-profile-upgrade), other SecurityCtrlr
    variables than OrganizationName, CertSigningWaitMinimum, CertSigningRepeatTimes.

    sync: 200 with the station's answer (`status` answered, or error with its CALLERROR code);
    504 when it did not answer in time (`sent` tells whether it got the request); 409 when it is
    not connected. async: 202 with the stored call; poll its `url`. 422 when the payload breaks
    the action's schema (`field` names where) or a rule refuses it (`rule`). Every refusal is audited.
    """
    answered = await send_operator_call(gateway, jobs, principal.actor, station_id, body.action, body.payload,
                                        job=body.mode == "async", timeout=body.timeout)
    return answered if isinstance(answered, JSONResponse) else CallOutcomeOut.of(answered)


async def send_operator_call(gateway: Gateway, jobs: CallJobs, actor: Actor, station_id: str, action: str,
                             payload: dict[str, Any], *, job: bool,
                             timeout: float | None) -> CallOutcome | JSONResponse:
    """An operator's CSMS call, raw or as a typed command: one path, so the same role and rule
    checks and the same audit (api/csms/operator_calls.py). A job: 202 with where to poll it.
    Sent now: the answer (answered, or error with its CALLERROR code); 409 not connected, 504
    no answer in time, 422 a payload the schema or a rule refuses."""
    try:
        if job:
            row = await jobs.submit(actor, station_id, action, payload, timeout)
            parts = await asyncio.to_thread(jobs.parts, row)
            return JSONResponse(jsonable_encoder(CallJobOut.of(row, parts)), status_code=202,
                                headers={"Location": _job_url(row)})
        outcome = await call_now(gateway, actor, station_id, action, payload, timeout)
    except InvalidCallPayload as exc:
        raise _invalid_payload(exc) from None
    if outcome.status == NOT_CONNECTED:
        raise ApiError(409, outcome.description, rule="station.not_connected", call_status=outcome.status, sent=False)
    if outcome.status == TIMEOUT:
        raise ApiError(504, outcome.description, call_status=outcome.status, sent=outcome.sent)
    return outcome


JobStatus = Literal[CallStatus.PENDING, CallStatus.SENT, CallStatus.ANSWERED, CallStatus.FAILED]


class CallJobPage(BaseModel):
    calls: list[CallJobOut] = Field(description="Newest first; a split job's parts are shown when it is read alone.")
    next_before: int | None = Field(description="Pass as `before` for the next (older) page; null on the last.")


@router.get("/api/v1/stations/{station_id}/calls", response_model=CallJobPage,
            responses=errors.responses(401, 403, 404, 422, 503))
async def list_calls(station_id: str, _principal: AnyRole, ctx: Ctx, status: JobStatus | None = None,
                     before: Before = None, limit: Limit = 100) -> CallJobPage:
    """The station's stored (async) calls, newest first: `status=pending` shows what still waits
    for the station. Page with `before`. Roles: officer, operator, auditor."""
    rows = await asyncio.to_thread(job_control.listed, ctx, station_id, status, before, limit + 1)
    page, next_before = page_of(rows, limit, "id")
    return CallJobPage(calls=[CallJobOut.of(row) for row in page], next_before=next_before)


@router.delete("/api/v1/stations/{station_id}/calls/{call_id}", response_model=CallJobOut,
               responses=errors.responses(401, 403, 404, 409, 503))
async def cancel_call(station_id: str, call_id: RowId, principal: StationOps, ctx: Ctx, jobs: JobsDep) -> CallJobOut:
    """Cancel a stored call that has not left: it fails with `error` "cancelled by …" and is never
    sent (a split job: its parts not yet sent). 409 `call.sent` while it is with the station (its
    answer decides), `call.ended` once it has ended; 404 `call.unknown`. Whoever may send its
    action may cancel it (403 `call.role` otherwise). Audited (`station.call.cancel`). Roles:
    officer, operator."""
    row = await asyncio.to_thread(job_control.cancel, ctx, principal.actor, station_id, call_id)
    return CallJobOut.of(row, await asyncio.to_thread(jobs.parts, row))


@router.get("/api/v1/stations/{station_id}/calls/{call_id}", response_model=CallJobOut,
            responses=errors.responses(401, 403, 404, 503))
async def get_call(station_id: str, call_id: RowId, _principal: AnyRole, jobs: JobsDep) -> CallJobOut:
    """One stored (async) call and, once known, the station's answer. Roles: officer, operator, auditor."""
    row = await asyncio.to_thread(jobs.get, station_id, call_id)
    if row is None:
        raise ApiError(404, f"no call {call_id} for station {station_id!r}")
    return CallJobOut.of(row, await asyncio.to_thread(jobs.parts, row))


# --- boot policy ------------------------------------------------------------------------------

class BootPolicyIn(RequestBody):
    status: Literal[boot_statuses()] | None = Field(  # type: ignore[valid-type]
        description="The answer to the station's next BootNotifications; null: the gateway default.")


class BootPolicyOut(BaseModel):
    station_id: str
    boot_policy: str | None


@router.put("/api/v1/stations/{station_id}/boot-policy", response_model=BootPolicyOut,
            responses=errors.responses(401, 403, 404, 422, 503))
async def set_boot_policy(station_id: str, body: BootPolicyIn, principal: StationOps,
                          request: Request) -> BootPolicyOut:
    """How to answer the station's BootNotification (Accepted, Pending, Rejected). It applies
    from its next BootNotification; to apply it now, trigger one (TriggerMessage
    BootNotification). Roles: officer, operator."""
    station = await asyncio.to_thread(provisioning.set_boot_policy, request.app.state.ctx, principal.actor,
                                      station_id, body.status)
    return BootPolicyOut(station_id=station.id, boot_policy=station.boot_policy)


# --- A01 password rotation --------------------------------------------------------------------

class PasswordRotationIn(RequestBody):
    length: int = Field(PASSWORD_MAX, ge=16, le=PASSWORD_LENGTH_MAX,
                        description="Password length: 16 to the station's maxLimit of "
                                    "SecurityCtrlr.BasicAuthPassword (40 unless it announced more, at most 64).")
    timeout: float | None = Field(None, gt=0, le=300)


class PasswordRotationOut(BaseModel):
    answer: Literal["accepted", "rejected", "unknown"] = Field(
        description="accepted: only the new password works now; rejected: only the old one; unknown "
                    "(no answer): both work until the station next logs in, then only the one it used.")
    call_status: str
    attribute_status: str | None
    description: str

    @classmethod
    def of(cls, result: RotationResult) -> "PasswordRotationOut":
        return cls(answer=result.answer, call_status=result.call_status,
                   attribute_status=result.attribute_status, description=result.description)


@router.post("/api/v1/stations/{station_id}/password-rotation", response_model=PasswordRotationOut,
             responses={409: {"model": errors.ErrorBody, "description": "Station not connected, or the "
                              "previous rotation is not resolved yet."},
                        **errors.responses(401, 403, 404, 422, 503)})
async def rotate_station_password(station_id: str, principal: StationOps, gateway: GatewayDep,
                                  body: PasswordRotationIn | None = None) -> PasswordRotationOut:
    """Give the station a new random Basic-auth password (OCPP A01, SetVariables
    SecurityCtrlr.BasicAuthPassword). The password is never shown, logged or audited: only the
    station learns it. Roles: officer, operator."""
    body = body or PasswordRotationIn()
    result = await rotate_password(gateway, principal.actor, station_id, length=body.length, timeout=body.timeout)
    return PasswordRotationOut.of(result)
