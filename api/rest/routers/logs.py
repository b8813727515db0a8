"""Block N01 over REST: ask a station for a log with an upload location ChargeCA runs, follow the
request (answer, every LogStatusNotification), and download the file it uploaded."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse
from ocpp.v201.datatypes import LogParametersType
from ocpp.v201.enums import LogEnumType
from pydantic import BaseModel, Field

from api.core.audit import Actor, record_failure, require_station, run_in_session
from api.core.refusal import NotFound, Refusal
from api.csms.call_records import CALL, sync_call_detail
from api.csms.file_transfer import Endpoints
from api.csms.ids import ID_MAX, draw_id
from api.csms.logs import commands, service
from api.rest import errors
from api.rest.auth import AnyRole, Ctx, StationOps
from api.rest.instants import Instant
from api.rest.request_body import RequestBody
from api.rest.routers.commands import answered_outcome, build
from api.rest.routers.station_ops import GatewayDep, JobsDep, send_operator_call

router = APIRouter(tags=["logs"])

RequestId = Annotated[int, Path(ge=0, le=ID_MAX, description="The GetLog requestId.")]


class LogRequestIn(RequestBody):
    log_type: LogEnumType = Field(description="DiagnosticsLog or SecurityLog.")
    protocol: Literal["https", "ftp"] | None = Field(
        None, description="Upload over this protocol; default: the [logs] policy's, among the servers that run.")
    oldest_timestamp: Instant | None = Field(None, description="Log entries from this time on (with a zone).")
    latest_timestamp: Instant | None = Field(None, description="Log entries up to this time (with a zone).")
    retries: int | None = Field(None, ge=0, le=ID_MAX)
    retry_interval: int | None = Field(None, ge=0, le=ID_MAX, description="Seconds between retries.")


class LogFileOut(BaseModel):
    file_name: str
    size: int
    sha256: str
    protocol: str
    received_at: datetime
    download: str = Field(description="GET this path (any role) for the file.")


class LogEventOut(BaseModel):
    status: str
    received_at: datetime


class LogRequestOut(BaseModel):
    request_id: int
    log_type: str
    protocol: str | None = Field(description="https or ftp for an upload to ChargeCA; null: a location "
                                             "given by hand through the GetLog command.")
    requested_by: str
    requested_at: datetime
    answer: str | None = Field(description="Accepted, Rejected, AcceptedCanceled; without an answer: error, "
                                           "timeout, not_connected, refused; null while the call is out.")
    answered_at: datetime | None
    station_file_name: str | None = Field(description="The filename the station announced.")
    status: str | None = Field(description="The last LogStatusNotification (Uploading, Uploaded, UploadFailure, "
                                           "BadMessage, NotSupportedOperation, PermissionDenied, "
                                           "AcceptedCanceled, Idle).")
    status_at: datetime | None
    superseded_by: int | None = Field(description="N01.FR.12: the request that cancelled this one.")
    max_bytes: int | None
    file: LogFileOut | None = Field(description="The file received, once complete; checksum computed as it arrived.")
    events: list[LogEventOut] | None = None

    @classmethod
    def of(cls, view: service.LogView, *, events: bool = False) -> LogRequestOut:
        row, file = view.request, view.file
        return cls(
            request_id=row.request_id, log_type=row.log_type, protocol=row.protocol, requested_by=row.requested_by,
            requested_at=row.requested_at, answer=row.answer, answered_at=row.answered_at,
            station_file_name=row.file_name, status=row.status, status_at=row.status_at,
            superseded_by=row.superseded_by, max_bytes=row.max_bytes,
            file=LogFileOut(file_name=file.file_name, size=file.size, sha256=file.sha256, protocol=file.protocol,
                            received_at=file.received_at,
                            download=f"/api/v1/stations/{row.station_id}/logs/{row.request_id}/file")
            if file else None,
            events=[LogEventOut(status=e.status, received_at=e.received_at) for e in view.events] if events else None)


def _endpoints(request: Request) -> Endpoints:
    files = getattr(request.app.state, "file_service", None)
    if files is None:
        raise errors.ApiError(503, "the file service does not run in this process", rule="files.not_running")
    return files.endpoints


def _audit_refusal(ctx, actor: Actor, station_id: str, exc: Refusal | errors.ApiError) -> None:
    if isinstance(exc, errors.ApiError):
        if exc.status >= 500:   # not refused: something of ours failed, and says so itself
            return
        exc = Refusal(exc.rule or "request", exc.message)
    record_failure(ctx, actor, CALL, station_id, sync_call_detail(actor, "GetLog"), exc)


def _iso(moment: datetime | None, field: str) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise errors.ApiError(422, f"{field} needs a time zone", rule="call.log.timestamp", field=f"body.{field}")
    return moment.isoformat().replace("+00:00", "Z")


@router.post("/api/v1/stations/{station_id}/logs",
             responses={409: {"model": errors.ErrorBody, "description": "station not connected."},
                        504: {"model": errors.ErrorBody, "description": "no answer in time."},
                        **errors.responses(401, 403, 404, 422, 503)})
async def request_log(station_id: str, body: LogRequestIn, request: Request, principal: StationOps,
                      gateway: GatewayDep, jobs: JobsDep, ctx: Ctx) -> Any:
    """GetLog (N01) with an upload location ChargeCA runs: a requestId ChargeCA draws and one-time
    upload credentials for it alone (HTTPS or FTP, at most the [logs] policy's `max_bytes`, valid
    `upload_minutes`). The station's answer as the typed command gives it, plus `request_id` and
    `protocol`. A station already uploading answers AcceptedCanceled and stops the earlier
    upload (N01.FR.12). Roles: officer, operator."""
    endpoints = _endpoints(request)
    request_id = draw_id()

    def prepare(session):
        require_station(session, station_id)
        # Among what the station said it can upload with (OCPPCommCtrlr.FileTransferProtocols),
        # when it did: an FTP-only station gets an ftp:// location.
        return service.prepare(session, endpoints, ctx.policy.logs, station_id=station_id, request_id=request_id,
                               log_type=body.log_type.value, requested_by=principal.actor.name,
                               protocol=body.protocol, oldest=body.oldest_timestamp, latest=body.latest_timestamp)
    try:
        oldest = _iso(body.oldest_timestamp, "oldest_timestamp")
        latest = _iso(body.latest_timestamp, "latest_timestamp")
        window = service.check_window(body.oldest_timestamp, body.latest_timestamp)
        if not window:
            raise errors.ApiError(422, window.reason, rule=window.rule, field="body.latest_timestamp")
        prepared = await asyncio.to_thread(run_in_session, ctx, prepare)
    except (Refusal, errors.ApiError) as exc:
        # Refused before anything left: audited as the other doors' refused GetLog are.
        await asyncio.to_thread(_audit_refusal, ctx, principal.actor, station_id, exc)
        raise
    command = commands.GetLog(
        log=LogParametersType(remote_location=prepared.remote_location, oldest_timestamp=oldest,
                              latest_timestamp=latest),
        log_type=body.log_type, request_id=request_id, retries=body.retries, retry_interval=body.retry_interval)
    answered = await send_operator_call(gateway, jobs, principal.actor, station_id, command.action,
                                        build(commands.GetLog, command), job=False, timeout=None)
    return {"request_id": request_id, "protocol": prepared.request.protocol,
            **answered_outcome(command.action, answered).model_dump()}


@router.get("/api/v1/stations/{station_id}/logs", response_model=list[LogRequestOut],
            responses=errors.responses(401, 403, 404, 503))
async def list_logs(station_id: str, _principal: AnyRole, ctx: Ctx,
                    limit: int = Query(100, ge=1, le=1000)) -> list[LogRequestOut]:
    """The station's log requests, newest first, each with its file once received (size, sha256).
    Roles: officer, operator, auditor."""
    def read(session):
        require_station(session, station_id)
        return [LogRequestOut.of(v) for v in service.listed(session, station_id, ctx.settings.data_dir, limit=limit)]
    return await asyncio.to_thread(run_in_session, ctx, read)


def _one(ctx, station_id: str, request_id: int) -> service.LogView:
    def read(session):
        require_station(session, station_id)
        view = service.one(session, station_id, request_id, ctx.settings.data_dir)
        if view is None:
            raise NotFound("log.unknown", f"no log request {request_id} for station {station_id!r}")
        return view
    return run_in_session(ctx, read)


@router.get("/api/v1/stations/{station_id}/logs/{request_id}", response_model=LogRequestOut,
            responses=errors.responses(401, 403, 404, 503))
async def get_log(station_id: str, request_id: RequestId, _principal: AnyRole, ctx: Ctx) -> LogRequestOut:
    """One log request with every LogStatusNotification it got. Roles: officer, operator, auditor."""
    return LogRequestOut.of(await asyncio.to_thread(_one, ctx, station_id, request_id), events=True)


@router.get("/api/v1/stations/{station_id}/logs/{request_id}/file", response_class=FileResponse,
            responses=errors.responses(401, 403, 404, 503))
async def download_log(station_id: str, request_id: RequestId, _principal: AnyRole, ctx: Ctx) -> FileResponse:
    """The file the station uploaded for this request, as received; its SHA-256 (hex) in
    `X-Content-SHA256`. Roles: officer, operator, auditor."""
    view = await asyncio.to_thread(_one, ctx, station_id, request_id)
    if view.file is None or not view.file.path.is_file():
        raise errors.ApiError(404, f"no file received for log request {request_id}", rule="log.no_file")
    return FileResponse(view.file.path, media_type="application/octet-stream", filename=view.file.file_name,
                        headers={"X-Content-SHA256": view.file.sha256})
