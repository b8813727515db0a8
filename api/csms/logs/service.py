"""Block N01's records: log requests, the station's answers and status reports, the files.

A request we make ourselves (``prepare``) gets a one-time upload grant (HTTPS or FTP, by
policies/file_transfer.py) in the same transaction that stores it, before GetLog leaves. A
GetLog sent through any other door (the typed command, the raw call, a job) with a location
elsewhere is recorded by the call effects (``requested``/``answered``/``unanswered``), so its
LogStatusNotifications are tracked all the same.

N01.FR.12: a station that is uploading when a new GetLog arrives answers AcceptedCanceled and
stops the old upload; the open requests before it are then marked ``superseded_by`` the new one
and their grants revoked (a late upload of the old log is refused). A failure status
(UploadFailure, BadMessage, PermissionDenied, NotSupportedOperation) ends a request too: the
station sends one only after its retries (N01.FR.10), so its grant is revoked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ocpp.v201.enums import LogStatusEnumType, UploadLogStatusEnumType
from sqlalchemy import bindparam, exists, func, insert, update
from sqlmodel import Session, col, delete, select

from api.csms.file_transfer import Endpoints, Received, grant_upload, received_file, revoke
from api.csms.file_transfer.protocols import protocol_for
from policies.model import Decision, LogPolicy
from storage.file_transfer import FileGrant, ReceivedFile
from storage.logs import MAX_EVENTS_PER_REQUEST, LogRequest, LogStatusEvent
from storage.types import utcnow

PURPOSE = "log"
# Statuses after which the station will not upload for the request any more.
ENDING = frozenset({UploadLogStatusEnumType.uploaded, UploadLogStatusEnumType.upload_failure,
                    UploadLogStatusEnumType.bad_message, UploadLogStatusEnumType.not_supported_operation,
                    UploadLogStatusEnumType.permission_denied, UploadLogStatusEnumType.accepted_canceled})
_TAKEN = (LogStatusEnumType.accepted, LogStatusEnumType.accepted_canceled)


@dataclass(frozen=True)
class Prepared:
    request: LogRequest
    remote_location: str


def _parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


# Where a station can upload a log to (OCPP 2.0.1 N01: HTTP(S) or FTP(S)).
UPLOAD_SCHEMES = frozenset({"http", "https", "ftp", "ftps"})


def check_window(oldest: datetime | None, latest: datetime | None) -> Decision:
    """A log from after its own end would be empty at best; the station would only refuse it."""
    if oldest is not None and latest is not None and oldest > latest:
        return Decision.refuse("call.log.window", f"oldestTimestamp {oldest.isoformat()} is after latestTimestamp "
                                                  f"{latest.isoformat()}")
    return Decision.allow()


def check_request(payload: Mapping[str, Any]) -> Decision:
    """GetLog on every door: an upload location a station can upload to (an absolute URL
    with a host, over HTTP(S) or FTP(S)), and a time window that is one."""
    log = payload.get("log", {})
    location = urlsplit(str(log.get("remoteLocation", "")))
    if location.scheme.lower() not in UPLOAD_SCHEMES or not location.hostname:
        return Decision.refuse("call.log.location",
                               "log.remoteLocation must be an absolute URL with a host over "
                               f"{', '.join(sorted(UPLOAD_SCHEMES))}; POST /api/v1/stations/{{id}}/logs gives "
                               "one of ChargeCA's own")
    try:
        return check_window(_parse_time(log.get("oldestTimestamp")), _parse_time(log.get("latestTimestamp")))
    except (TypeError, ValueError):
        return Decision.refuse("call.log.timestamp",
                               "oldestTimestamp and latestTimestamp must be dates with a time zone")


def find(session: Session, station_id: str, request_id: int) -> LogRequest | None:
    return session.exec(select(LogRequest).where(LogRequest.station_id == station_id,
                                                 LogRequest.request_id == request_id)).first()


def prepare(session: Session, endpoints: Endpoints, policy: LogPolicy, *, station_id: str, request_id: int,
            log_type: str, requested_by: str, protocol: str | None = None, oldest: datetime | None = None,
            latest: datetime | None = None) -> Prepared:
    """Store the request with a fresh upload grant; the remoteLocation to send. ``Refusal``
    when no protocol fits (api/csms/file_transfer/protocols.py: the asked one is off, the
    station supports none we run)."""
    chosen = protocol_for(session, endpoints, station_id, asked=protocol, preferred=policy.protocol)
    locations = grant_upload(session, endpoints, station_id=station_id, purpose=PURPOSE, request_id=request_id,
                             max_bytes=policy.max_bytes, ttl=timedelta(minutes=policy.upload_minutes))
    row = LogRequest(station_id=station_id, request_id=request_id, log_type=log_type, protocol=chosen,
                     grant_id=locations.grant_id, max_bytes=policy.max_bytes, oldest_timestamp=oldest,
                     latest_timestamp=latest, requested_by=requested_by[:100])
    session.add(row)
    session.flush()
    location = locations.url(chosen)
    assert location is not None
    return Prepared(row, location)


# --- the call effects (every door) --------------------------------------------------------------

def requested(session: Session, station_id: str, actor_name: str, payload: Mapping[str, Any]) -> None:
    if find(session, station_id, payload["requestId"]) is not None:
        return   # ours, stored by prepare() with its grant
    log = payload.get("log", {})
    session.add(LogRequest(station_id=station_id, request_id=payload["requestId"], log_type=payload["logType"],
                           oldest_timestamp=_parse_time(log.get("oldestTimestamp")),
                           latest_timestamp=_parse_time(log.get("latestTimestamp")), requested_by=actor_name[:100]))


def answered(session: Session, station_id: str, payload: Mapping[str, Any], response: Mapping[str, Any],
             _asked_by: str) -> None:
    row = find(session, station_id, payload["requestId"])
    if row is None:
        return
    row.answer, row.answered_at = response["status"], utcnow()
    row.file_name = response.get("filename")
    session.add(row)
    if row.answer not in _TAKEN:
        _end(session, row.grant_id)
    if row.answer == LogStatusEnumType.accepted_canceled:
        for earlier in session.exec(select(LogRequest).where(
                LogRequest.station_id == station_id, LogRequest.id != row.id, col(LogRequest.answer).in_(_TAKEN),
                col(LogRequest.superseded_by).is_(None),
                col(LogRequest.requested_at) <= row.requested_at)).all():
            # Its own AcceptedCanceled report may have come before this answer was recorded.
            if earlier.status not in ENDING or earlier.status == UploadLogStatusEnumType.accepted_canceled:
                earlier.superseded_by = row.request_id
                session.add(earlier)
                _end(session, earlier.grant_id)


def unanswered(session: Session, station_id: str, payload: Mapping[str, Any], outcome: str) -> None:
    row = find(session, station_id, payload["requestId"])
    if row is not None and row.answer is None:
        row.answer, row.answered_at = outcome, utcnow()
        session.add(row)
        _end(session, row.grant_id)


def _end(session: Session, grant_id: str | None) -> None:
    """The request is over: its upload credentials, if it has ours, are revoked."""
    if grant_id:
        revoke(session, grant_id)


# --- LogStatusNotification ----------------------------------------------------------------------

# Built once, run on the unit's connection: a fleet's uploads report in waves (100 stations'
# Uploading within a second, then their Uploaded within a few ms), and through the ORM a report
# cost ~800 µs of CPU (two reads, two flushes), long enough to hold up other stations' answers.
_KEPT = select(func.count()).select_from(LogStatusEvent).where(
    LogStatusEvent.station_id == bindparam("station_id"),
    col(LogStatusEvent.request_id).is_not_distinct_from(bindparam("request_id")))
_REPORT = insert(LogStatusEvent)
_LATEST = (update(LogRequest)
           .where(LogRequest.station_id == bindparam("station"), LogRequest.request_id == bindparam("request"))
           .values(status=bindparam("new_status"), status_at=bindparam("new_status_at"))
           .returning(LogRequest.grant_id))


# A station picks the requestIds it reports: those we never sent share one bound, or a station
# counting through them would add a row for each until retention.
_STRANGERS = (select(LogStatusEvent.id).where(
    LogStatusEvent.station_id == bindparam("station_id"), col(LogStatusEvent.request_id).is_not(None),
    ~exists().where(LogRequest.station_id == LogStatusEvent.station_id,
                    LogRequest.request_id == LogStatusEvent.request_id))
    .order_by(col(LogStatusEvent.id).desc()).offset(MAX_EVENTS_PER_REQUEST - 1))


def status_reported(session: Session, station_id: str, status: str, request_id: int | None) -> None:
    """Keep the report (bounded per request, and all those for requests we never sent together)
    and the request's latest status."""
    db = session.connection()
    now = utcnow()
    row = None if request_id is None else db.execute(_LATEST, {
        "station": station_id, "request": request_id, "new_status": status, "new_status_at": now}).first()
    if request_id is not None and row is None:
        beyond = db.execute(_STRANGERS, {"station_id": station_id}).scalars().all()
        if beyond:
            session.exec(delete(LogStatusEvent).where(col(LogStatusEvent.id).in_(beyond)))
    else:
        kept = db.execute(_KEPT, {"station_id": station_id, "request_id": request_id}).scalar_one()
        if kept >= MAX_EVENTS_PER_REQUEST:
            oldest = session.exec(select(LogStatusEvent.id).where(
                LogStatusEvent.station_id == station_id, LogStatusEvent.request_id == request_id)
                .order_by(LogStatusEvent.id).limit(kept - MAX_EVENTS_PER_REQUEST + 1)).all()
            session.exec(delete(LogStatusEvent).where(col(LogStatusEvent.id).in_(oldest)))
    db.execute(_REPORT, {"station_id": station_id, "request_id": request_id, "status": status, "received_at": now})
    if row is not None and status in ENDING and status != UploadLogStatusEnumType.uploaded:
        _end(session, row.grant_id)


# --- reads ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LogView:
    request: LogRequest
    file: Received | None
    events: list[LogStatusEvent]


def listed(session: Session, station_id: str, data_dir: Path, *, limit: int = 100,
           with_events: bool = False) -> list[LogView]:
    rows = session.exec(select(LogRequest).where(LogRequest.station_id == station_id)
                        .order_by(col(LogRequest.requested_at).desc(), col(LogRequest.id).desc()).limit(limit)).all()
    return [_view(session, row, data_dir, with_events) for row in rows]


def one(session: Session, station_id: str, request_id: int, data_dir: Path) -> LogView | None:
    row = find(session, station_id, request_id)
    return _view(session, row, data_dir, True) if row else None


def _view(session: Session, row: LogRequest, data_dir: Path, with_events: bool) -> LogView:
    file = received_file(session, row.grant_id, data_dir) if row.grant_id else None
    events = list(session.exec(select(LogStatusEvent).where(
        LogStatusEvent.station_id == row.station_id, LogStatusEvent.request_id == row.request_id)
        .order_by(LogStatusEvent.id)).all()) if with_events else []
    return LogView(row, file, events)


# --- retention --------------------------------------------------------------------------------

def prune(session: Session, policy: LogPolicy, data_dir: Path, now: datetime | None = None) -> list[Path]:
    """Delete requests, reports and files beyond the [logs] policy; the files to remove from disk
    once this transaction has committed."""
    cutoff = (now or utcnow()) - timedelta(days=policy.retention_days)
    old = session.exec(select(LogRequest).where(LogRequest.requested_at < cutoff)).all()
    grant_ids = [row.grant_id for row in old if row.grant_id]
    session.exec(delete(LogStatusEvent).where(LogStatusEvent.received_at < cutoff))
    session.exec(delete(LogRequest).where(col(LogRequest.id).in_([row.id for row in old])))
    doomed = list(session.exec(select(ReceivedFile).where(
        ReceivedFile.purpose == PURPOSE, (col(ReceivedFile.grant_id).in_(grant_ids))
        | (ReceivedFile.received_at < cutoff))).all())
    # Per station, only the newest max_files_per_station.
    crowded = session.exec(select(ReceivedFile.station_id).where(ReceivedFile.purpose == PURPOSE)
                           .group_by(ReceivedFile.station_id)
                           .having(func.count() > policy.max_files_per_station)).all()
    for station_id in crowded:
        doomed += session.exec(select(ReceivedFile).where(ReceivedFile.purpose == PURPOSE,
                                                          ReceivedFile.station_id == station_id)
                               .order_by(col(ReceivedFile.received_at).desc(), col(ReceivedFile.id).desc())
                               .offset(policy.max_files_per_station)).all()
    unique = {row.id: row for row in doomed}
    session.exec(delete(ReceivedFile).where(col(ReceivedFile.id).in_(list(unique))))
    session.exec(delete(FileGrant).where(col(FileGrant.id).in_(grant_ids)))
    return [data_dir / row.path for row in unique.values()]
