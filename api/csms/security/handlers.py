"""Functional block A — Security: security events (A04); certificate signing is in certificates.py.

Each event is a row, up to ``ROWS_PER_TYPE`` of one type from one connection within
``REPEAT_WINDOW``; the repeats beyond are counted on the last of them (``occurrences``,
``last_seen_at``), as refused connections and alerts are. A station sends as fast as it likes,
and the table's bound (``[security_events] max_rows``) removes the oldest rows first, whoever sent
them: unbounded, one station's flood would push every other station's evidence out.

While the database is unavailable, an event is kept in a bounded local spool and acknowledged
(api/csms/security/event_spool.py); with the spool full the station is answered InternalError and keeps it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlmodel import Session

from api.csms.outbox import signal as outbox_signal
from api.csms.security.alerts import REPEAT_WINDOW
from api.csms.security.event_spool import as_entry
from api.csms.security.renewal import RENEW_AGAIN_EVENTS, renew_after_station_event
from api.ocpp.framing import ErrorCode, OcppError
from api.ocpp.handler import StationCall, parse_datetime
from storage.db import DatabaseUnavailable
from storage.security_events import SecurityEvent, count_repeat
from storage.types import utcnow

log = logging.getLogger("chargeca.ocpp.security")

# Appendix 1 of OCPP 2.0.1 Part 2: the standard types the station must push at once (A04.FR.01).
# Any other type string is legal (the schema makes it free text) and stored as not critical.
CRITICAL_TYPES = frozenset({
    "FirmwareUpdated", "TamperDetectionActivated", "SettingSystemTime", "InvalidFirmwareSignature",
    "StartupOfTheDevice", "InvalidFirmwareSigningCertificate", "ResetOrReboot", "InvalidCsmsCertificate",
    "SecurityLogWasCleared", "InvalidChargingStationCertificate", "InvalidTLSVersion", "MemoryExhaustion",
    "InvalidTLSCipherSuite", "MaintenanceLoginAccepted", "MaintenanceLoginFailed",
})


# Rows of their own per type, connection and window: enough to see what a station's repeats
# said (their techInfo) before they are only counted.
ROWS_PER_TYPE = 10


async def security_event_notification(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    event = SecurityEvent(station_id=call.station_id, source="station", type=payload["type"],
                          occurred_at=parse_datetime(payload["timestamp"], "timestamp"),
                          tech_info=payload.get("techInfo"), critical=payload["type"] in CRITICAL_TYPES)
    run = call.live.repeats.run("security_event", event.type, REPEAT_WINDOW.total_seconds())
    try:
        counted = run.count > ROWS_PER_TYPE and run.kept is not None and await call.db(
            lambda session: count_repeat(session, run.kept, event.occurred_at))
        if not counted:
            run.kept = await call.db(lambda session: _add(session, event))
    except DatabaseUnavailable as exc:
        await _spool(call, event, exc)
        return {}
    if event.type in RENEW_AGAIN_EVENTS:
        # A02.FR.07/29: the station threw a renewed certificate away; ask it for a new CSR.
        await call.db(lambda session: renew_after_station_event(session, call.station_id, event.type,
                                                                policy=call.ctx.policy, now=utcnow()))
        call.after(_wake_outbox)
    if event.critical:
        # The alert channel for officers until a notifier exists: a WARNING in the log, once per
        # connection, type and window; the repeats are rows (a station sends as fast as it likes).
        log.log(logging.WARNING if run.count == 1 else logging.DEBUG, "critical security event %s from %s at %s",
                event.type, call.station_id, payload["timestamp"])
    return {}  # A04.FR.03: acknowledge; the response has no fields of its own


def _add(session: Session, event: SecurityEvent) -> int:
    session.add(event)
    session.flush()
    return event.id


async def _spool(call: StationCall, event: SecurityEvent, exc: DatabaseUnavailable) -> None:
    """Keep the event through the outage (api/csms/security/event_spool.py), or have the station keep it."""
    kept = call.spool is not None and await asyncio.to_thread(call.spool.add, as_entry(event))
    if not kept:
        raise OcppError(ErrorCode.INTERNAL_ERROR, "the event could not be stored now; send it again later")
    log.warning("database unavailable (%s): security event %s from %s kept in the spool (%d waiting)",
                exc, event.type, call.station_id, len(call.spool))


def record_csms_event(session: Session, station_id: str, event_type: str, tech_info: str,
                      *, critical: bool = True) -> None:
    """A security event the CSMS itself observed about a station (e.g. a failed identity check)."""
    session.add(SecurityEvent(station_id=station_id, source="csms", type=event_type[:50],
                              occurred_at=utcnow(), tech_info=tech_info[:255], critical=critical))


async def _wake_outbox() -> None:
    outbox_signal.ring()
