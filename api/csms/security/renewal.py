"""Asking stations for a new CSR (A02: TriggerMessage SignChargingStationCertificate).

A renewal request is an outbox row (purpose ``certificate_renewal``), stored before it is sent
like every CSMS call that must not be lost; the outbox engine sends it when the station is
connected and the row is due. ``reference`` holds the round: 1 for a renewal an operator or the
scheduler starts, n+1 for the retry after round n ended with the station refusing the
certificate (A02.FR.07/29). Rounds beyond ``[delivery] max_attempts`` raise an alert instead.

Scheduled and bulk renewals are paced fleet-wide (``[renewal] max_per_minute``) by giving each
row its own due time, so the pace holds across restarts and nodes. Everything here is blocking
database work in the caller's transaction; no OCPP is spoken here.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, func, or_
from sqlmodel import Session, select

from api.csms.outbox.purposes import CERTIFICATE_DELIVERY, CERTIFICATE_RENEWAL
from api.csms.security.alerts import RENEWAL_FAILED, raise_alert
from policies.delivery import may_try_again, renewal_spacing, retry_delay
from policies.model import Policy
from storage import audit
from storage.certificates import CertKind, CertStatus, IssuedCertificate
from storage.filters import in_lists
from storage.outbox import CallStatus, OutboundCall
from storage.stations import Station

PURPOSE = CERTIFICATE_RENEWAL
# Rows of api.csms.security.certificate_signing (the signed chain waiting for CertificateSigned); named
# here too because a pending delivery means a renewal is in flight.
DELIVERY_PURPOSE = CERTIFICATE_DELIVERY

CHARGING_STATION_CERTIFICATE = "ChargingStationCertificate"
V2G_CERTIFICATE = "V2GCertificate"
# certificateType of SignCertificate / CertificateSigned → the TriggerMessage that asks for it.
TRIGGERS = {CHARGING_STATION_CERTIFICATE: "SignChargingStationCertificate",
            V2G_CERTIFICATE: "SignV2GCertificate"}

# Security events a station sends when it threw a renewed certificate away: ask again.
RENEW_AGAIN_EVENTS = frozenset({"InvalidChargingStationCertificate", "DiscardedRenewedClientCertificate"})

SCHEDULER = "system:renewal-scheduler"
RETRIES = "system:certificate-renewal"
_OPEN = (CallStatus.PENDING, CallStatus.SENT)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class NoSuchIssuer(LookupError):
    pass


@dataclass(frozen=True)
class Selection:
    """Which stations a bulk renewal is for: exactly one criterion, applied to the certificate
    each station uses now (see ``current_certificates``)."""

    expiring_within_days: int | None = None
    issuer_id: str | None = None
    everything: bool = False

    def __post_init__(self) -> None:
        given = [self.expiring_within_days is not None, self.issuer_id is not None, self.everything]
        if sum(given) != 1:
            raise ValueError("give exactly one of expiring_within_days, issuer_id or all")
        if self.expiring_within_days is not None and self.expiring_within_days < 0:
            raise ValueError("expiring_within_days must not be negative")

    def describe(self) -> str:
        if self.everything:
            return "all"
        if self.issuer_id is not None:
            return f"issuer_id={self.issuer_id}"
        return f"expiring_within_days={self.expiring_within_days}"


@dataclass(frozen=True)
class Queued:
    station_id: str
    call_id: int
    next_attempt_at: datetime


@dataclass(frozen=True)
class Skipped:
    station_id: str
    reason: str


@dataclass(frozen=True)
class RenewalBatch:
    queued: list[Queued]
    skipped: list[Skipped]


def trigger_payload(certificate_type: str) -> dict[str, str]:
    return {"requestedMessage": TRIGGERS[certificate_type]}


def certificate_type_of(trigger_payload_: dict) -> str:
    wanted = trigger_payload_.get("requestedMessage")
    return next((kind for kind, trigger in TRIGGERS.items() if trigger == wanted), CHARGING_STATION_CERTIFICATE)


# --- which certificate a station uses -----------------------------------------------------------


def _in_use_rank(record: IssuedCertificate) -> tuple:
    return record.status == CertStatus.ACTIVE, record.activated_at or _EPOCH, record.id


# What a station may be using: its active certificate, or one it connected with since superseded.
_MAY_BE_IN_USE = (IssuedCertificate.kind == CertKind.STATION, IssuedCertificate.station_id != None,  # noqa: E711
                  or_(IssuedCertificate.status == CertStatus.ACTIVE,
                      and_(IssuedCertificate.status == CertStatus.SUPERSEDED,
                           IssuedCertificate.activated_at != None)))  # noqa: E711


def current_certificates(session: Session, among: Collection[str] | None = None) -> dict[str, IssuedCertificate]:
    """Per station, the station certificate it uses now: the active one, else the one it last
    connected with (superseded by an issuance it has not used yet, or whose successor it
    refused: it still needs renewing). ``among``: only these stations (every station otherwise)."""
    query = select(IssuedCertificate).where(*_MAY_BE_IN_USE)
    if among is None:
        rows = list(session.exec(query))
    else:
        # By lists of ids, not by a subquery (storage.filters.in_lists): ``station_id IN (SELECT …)``
        # took 5.4 s for 2,100 stations in the gateway benchmark, on a core the stations' traffic needed.
        rows = [row for ids in in_lists(sorted(among))
                for row in session.exec(query.where(IssuedCertificate.station_id.in_(ids)))]
    current: dict[str, IssuedCertificate] = {}
    for row in rows:
        best = current.get(row.station_id)
        if best is None or _in_use_rank(row) > _in_use_rank(best):
            current[row.station_id] = row
    return current


def select_stations(session: Session, selection: Selection, now: datetime) -> list[IssuedCertificate]:
    """The current certificates matching ``selection``, soonest expiry first."""
    if selection.issuer_id is not None and not session.exec(select(IssuedCertificate.id).where(
            IssuedCertificate.issuer_id == selection.issuer_id)).first():
        raise NoSuchIssuer(f"no certificate was issued by {selection.issuer_id!r}")
    # The scheduler runs this every minute: only stations with a certificate that may match are
    # read (each with every certificate it may use, to find the current one), not the fleet.
    narrowed = select(IssuedCertificate.station_id).where(*_MAY_BE_IN_USE)
    if selection.expiring_within_days is not None:
        narrowed = narrowed.where(IssuedCertificate.not_after <= now + timedelta(days=selection.expiring_within_days))
    elif selection.issuer_id is not None:
        narrowed = narrowed.where(IssuedCertificate.issuer_id == selection.issuer_id)
    else:
        narrowed = None
    among = None if narrowed is None else set(session.exec(narrowed))
    matches = []
    for record in current_certificates(session, among).values():
        if selection.expiring_within_days is not None:
            if record.not_after > now + timedelta(days=selection.expiring_within_days):
                continue
        elif selection.issuer_id is not None and record.issuer_id != selection.issuer_id:
            continue
        matches.append(record)
    return sorted(matches, key=lambda r: (r.not_after, r.station_id))


def in_flight(session: Session, policy: Policy, now: datetime, *, recent_too: bool) -> set[str]:
    """Stations with a renewal under way: a renewal or delivery waiting to be sent or answered,
    and with ``recent_too`` also one that moved less than ``[renewal] in_flight_hours`` ago (its
    CSR or the station's reconnect with the new certificate may still come)."""
    under_way = OutboundCall.status.in_(_OPEN)
    if recent_too:
        under_way = or_(under_way, OutboundCall.updated_at > now - timedelta(hours=policy.renewal.in_flight_hours))
    return set(session.exec(select(OutboundCall.station_id).where(
        OutboundCall.purpose.in_([PURPOSE, DELIVERY_PURPOSE]), under_way).distinct()))


# --- queueing -------------------------------------------------------------------------------------


def _open_renewal(session: Session, station_id: str) -> OutboundCall | None:
    return session.exec(select(OutboundCall).where(
        OutboundCall.station_id == station_id, OutboundCall.purpose == PURPOSE,
        OutboundCall.status.in_(_OPEN)).order_by(OutboundCall.id)).first()


def _queue(session: Session, station_id: str, certificate_type: str, *, round_: int, due: datetime | None,
           created_by: str) -> OutboundCall:
    # due None: as soon as the station is connected.
    row = OutboundCall(station_id=station_id, action="TriggerMessage",
                       payload=json.dumps(trigger_payload(certificate_type)), purpose=PURPOSE,
                       reference=str(round_), next_attempt_at=due, created_by=created_by[:100])
    session.add(row)
    session.flush()
    return row


def request_renewal(session: Session, station_id: str, *, certificate_type: str,
                    created_by: str) -> tuple[OutboundCall, bool]:
    """An operator asks one station, now (not paced). (row, True) when a renewal request was
    already waiting for that station: that one is returned instead of a second."""
    if certificate_type not in TRIGGERS:
        raise ValueError(f"certificate type must be one of {', '.join(TRIGGERS)}")
    if session.get(Station, station_id) is None:
        raise LookupError(f"station {station_id!r} is not registered")
    waiting = _open_renewal(session, station_id)
    if waiting is not None:
        return waiting, True
    return _queue(session, station_id, certificate_type, round_=1, due=None, created_by=created_by), False


def _last_paced_slot(session: Session) -> datetime | None:
    return session.exec(select(func.max(OutboundCall.next_attempt_at)).where(
        OutboundCall.purpose == PURPOSE, OutboundCall.status == CallStatus.PENDING,
        OutboundCall.reference == "1")).first()


def queue_selected(session: Session, selection: Selection, *, policy: Policy, created_by: str,
                   now: datetime, scheduled: bool = False) -> RenewalBatch:
    """Queue a renewal for every station ``selection`` matches that has none in flight, each due
    ``renewal_spacing`` after the previous paced one. An operator's request skips only stations
    with a renewal waiting or unanswered (after a compromise, "renewed an hour ago" is no reason
    to wait); the scheduler also leaves recent ones alone (``scheduled``)."""
    spacing = renewal_spacing(policy.renewal)
    busy = in_flight(session, policy, now, recent_too=scheduled)
    last = _last_paced_slot(session)
    slot = now if last is None or spacing == timedelta(0) else max(now, last + spacing)
    queued, skipped = [], []
    for record in select_stations(session, selection, now):
        if record.station_id in busy:
            skipped.append(Skipped(record.station_id, "a renewal is already in flight"))
            continue
        row = _queue(session, record.station_id, CHARGING_STATION_CERTIFICATE, round_=1, due=slot,
                     created_by=created_by)
        queued.append(Queued(record.station_id, row.id, slot))
        slot += spacing
    return RenewalBatch(queued, skipped)


def schedule_expiring(session: Session, *, policy: Policy, now: datetime) -> RenewalBatch:
    """The scheduler's pass: stations whose certificate expires within ``[renewal] window_days``."""
    batch = queue_selected(session, Selection(expiring_within_days=policy.renewal.window_days), policy=policy,
                           created_by=SCHEDULER, now=now, scheduled=True)
    if batch.queued:
        audit.append(session, actor=SCHEDULER, action="certificate.renewal.schedule", target="fleet",
                     outcome=audit.Outcome.SUCCESS,
                     detail={"window_days": policy.renewal.window_days, "queued": len(batch.queued),
                             "stations": [q.station_id for q in batch.queued][:100],
                             "skipped_in_flight": len(batch.skipped)})
    return batch


# --- after a refusal ------------------------------------------------------------------------------


def _last_activation(session: Session, station_id: str) -> datetime | None:
    return session.exec(select(func.max(IssuedCertificate.activated_at)).where(
        IssuedCertificate.station_id == station_id)).first()


def retry_after_failure(session: Session, station_id: str, *, certificate_type: str, cause: str, policy: Policy,
                        now: datetime, unless_retried_after: int | None = None) -> OutboundCall | None:
    """The renewal round just ended without a certificate in use (the station refused the
    certificate or the trigger): queue the next round after the back-off, or alert when the
    rounds are used up. None when nothing was queued: a retry already waits, a renewal row
    newer than outbox row ``unless_retried_after`` shows this failure was already answered, or
    the rounds are used up."""
    if _open_renewal(session, station_id) is not None:
        return None
    latest = session.exec(select(OutboundCall).where(
        OutboundCall.station_id == station_id, OutboundCall.purpose == PURPOSE)
        .order_by(OutboundCall.id.desc())).first()
    if unless_retried_after is not None and latest is not None and latest.id > unless_retried_after:
        return None
    activated = _last_activation(session, station_id)
    same_renewal = (latest is not None and (latest.reference or "").isdigit()
                    and (activated is None or latest.created_at > activated))
    failed_round = int(latest.reference) if same_renewal else 1
    allowed = may_try_again(policy.delivery, failed_round)
    if not allowed:
        raise_alert(session, station_id=station_id, event_type=RENEWAL_FAILED, rule=allowed.rule,
                    reason=f"{cause}; {allowed.reason}", actor=RETRIES, detail={"certificate_type": certificate_type})
        return None
    due = now + retry_delay(policy.delivery, failed_round)
    if certificate_type not in TRIGGERS:
        certificate_type = CHARGING_STATION_CERTIFICATE
    return _queue(session, station_id, certificate_type, round_=failed_round + 1, due=due, created_by=RETRIES)


def renew_after_station_event(session: Session, station_id: str, event_type: str, *, policy: Policy,
                              now: datetime) -> OutboundCall | None:
    """A02.FR.07/29: the station reported it threw a renewed certificate away. While its answer
    to our latest CertificateSigned is awaited, or when that answer was Rejected, the answer
    decides (it starts the retry itself); the event starts one only for a certificate the
    station had accepted (DiscardedRenewedClientCertificate) or one we know nothing of."""
    latest = session.exec(select(OutboundCall).where(
        OutboundCall.station_id == station_id, OutboundCall.purpose == DELIVERY_PURPOSE)
        .order_by(OutboundCall.id.desc())).first()
    if latest is not None and (latest.status in _OPEN or (latest.status == CallStatus.ANSWERED
                                                          and not _accepted(latest))):
        return None
    return retry_after_failure(session, station_id, certificate_type=CHARGING_STATION_CERTIFICATE,
                               cause=f"station reported {event_type}", policy=policy, now=now,
                               unless_retried_after=latest.id if latest is not None else None)


def _accepted(row: OutboundCall) -> bool:
    return json.loads(row.response or "{}").get("status") == "Accepted"
