"""Alerts: a certificate workflow failed in a way an officer must act on.

An alert is a critical security event of source "csms" (what officers watch, GET
/api/v1/security-events) plus an audit entry with outcome "failed", written in the caller's
transaction, and a WARNING in the log. ``reason`` must never carry a secret.

A station can repeat what raises an alert as fast as it sends (InvalidSignature for any
requestId, a bad CSR), and the audit log is an append-only chain with no bound: within
``REPEAT_WINDOW`` of the station's last alert of that type, a repeat is counted on that alert's
event (``occurrences``, ``last_seen_at``), with no new row and no new audit entry, as refused
connections are aggregated, and logged when the count reaches a power of two.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import Session, select

from storage import audit
from storage.security_events import SecurityEvent
from storage.types import utcnow

log = logging.getLogger("chargeca.alerts")

# SecurityEvent.type values of the certificate workflows (source "csms", critical).
SIGNING_FAILED = "CertificateSigningFailed"
DELIVERY_FAILED = "CertificateDeliveryFailed"
CHAIN_TOO_LONG = "CertificateChainTooLong"
RENEWAL_FAILED = "CertificateRenewalFailed"


REPEAT_WINDOW = timedelta(minutes=10)


def raise_alert(session: Session, *, station_id: str, event_type: str, rule: str, reason: str, actor: str,
                detail: dict | None = None) -> None:
    now = utcnow()
    earlier = session.exec(select(SecurityEvent).where(
        SecurityEvent.station_id == station_id, SecurityEvent.source == "csms", SecurityEvent.type == event_type,
        SecurityEvent.occurred_at >= now - REPEAT_WINDOW).order_by(SecurityEvent.id.desc()).limit(1)).first()
    if earlier is not None:
        earlier.occurrences += 1
        earlier.last_seen_at = now
        session.add(earlier)
        # At the 2nd, 4th, 8th, ... repeat: a line per repeat would be as unbounded as the rows were.
        if earlier.occurrences & (earlier.occurrences - 1) == 0:
            log.warning("ALERT %s for station %s again (%d within %s): %s: %s", event_type, station_id,
                        earlier.occurrences, REPEAT_WINDOW, rule, reason)
        return
    session.add(SecurityEvent(station_id=station_id, source="csms", type=event_type, occurred_at=now,
                              tech_info=f"{rule}: {reason}"[:255], critical=True))
    audit.append(session, actor=actor, action="certificate.alert", target=station_id, outcome=audit.Outcome.FAILED,
                 detail={"alert": event_type, "rule": rule, "reason": reason[:500], **(detail or {})})
    log.warning("ALERT %s for station %s: %s: %s", event_type, station_id, rule, reason)
