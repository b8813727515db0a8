"""Alerts: a certificate workflow failed in a way an officer must act on.

An alert is a critical security event of source "csms" (what officers watch, GET
/api/v1/security-events) plus an audit entry with outcome "failed", written in the caller's
transaction, and a WARNING in the log. ``reason`` must never carry a secret.
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from storage import audit
from storage.security_events import SecurityEvent
from storage.types import utcnow

log = logging.getLogger("chargeca.alerts")

# SecurityEvent.type values of the certificate workflows (source "csms", critical).
SIGNING_FAILED = "CertificateSigningFailed"
DELIVERY_FAILED = "CertificateDeliveryFailed"
CHAIN_TOO_LONG = "CertificateChainTooLong"
RENEWAL_FAILED = "CertificateRenewalFailed"


def raise_alert(session: Session, *, station_id: str, event_type: str, rule: str, reason: str, actor: str,
                detail: dict | None = None) -> None:
    session.add(SecurityEvent(station_id=station_id, source="csms", type=event_type, occurred_at=utcnow(),
                              tech_info=f"{rule}: {reason}"[:255], critical=True))
    audit.append(session, actor=actor, action="certificate.alert", target=station_id, outcome=audit.Outcome.FAILED,
                 detail={"alert": event_type, "rule": rule, "reason": reason[:500], **(detail or {})})
    log.warning("ALERT %s for station %s: %s: %s", event_type, station_id, rule, reason)
