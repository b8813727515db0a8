"""Rotating station certificates: every station whose certificate in use matches a filter is
asked for a new CSR (A02, through api/csms/security/renewal.py), and is done once it reconnected on
profile 3 with the new certificate (admission then marks it active).

Resumable without a record of what ran: a station is todo while the certificate it uses still
matches the filter and nothing is under way; the renewal rows of the outbox and the certificates
issued since tell "under way". A filter that would still match the renewed certificate is
refused up front (it would never finish): ``all`` therefore means "issued before
``issued_before``", fixed at the first pass and repeated by the re-runs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from api.core.audit import Actor, run_in_session
from api.core.context import Context
from api.csms.outbox import signal as outbox_signal
from api.csms.security.renewal import (
    CHARGING_STATION_CERTIFICATE,
    DELIVERY_PURPOSE,
    PURPOSE,
    TRIGGERS,
    current_certificates,
)
from api.csms.security.service import request_certificate_renewal
from api.ocpp.gateway import Gateway
from api.rotation.report import DONE, Progress, Report, RotationRefused
from api.rotation.runner import Deadline, Plan, done, run_steps, stuck, todo, waiting
from pki.authorities import active_authority
from policies.model import Policy
from storage.certificates import CaRole, CertificateAuthority, CertKind, CertStatus, IssuedCertificate
from storage.filters import in_lists
from storage.outbox import CallStatus, OutboundCall
from storage.types import utcnow

ROTATION = "station-certificates"
RENEW = "renew"
_OPEN = (CallStatus.PENDING, CallStatus.SENT)


@dataclass(frozen=True)
class CertificateFilter:
    """Exactly one criterion, applied to the certificate each station uses now."""

    expiring_within_days: int | None = None
    issuer_id: str | None = None
    all: bool = False
    issued_before: datetime | None = None   # with ``all``: certificates issued before this instant

    def __post_init__(self) -> None:
        given = [self.expiring_within_days is not None, self.issuer_id is not None, self.all]
        if sum(given) != 1:
            raise ValueError("give exactly one of expiring_within_days, issuer_id or all")
        if self.expiring_within_days is not None and self.expiring_within_days < 0:
            raise ValueError("expiring_within_days must not be negative")
        if self.issued_before is not None and not self.all:
            raise ValueError("issued_before goes with all")

    def resolved(self, now: datetime) -> "CertificateFilter":
        """``all`` pinned to an instant, so that re-runs renew the same certificates only once."""
        return replace(self, issued_before=self.issued_before or now) if self.all else self

    def matches(self, record: IssuedCertificate, now: datetime) -> bool:
        if self.expiring_within_days is not None:
            return record.not_after <= now + timedelta(days=self.expiring_within_days)
        if self.issuer_id is not None:
            return record.issuer_id == self.issuer_id
        return self.issued_before is None or record.created_at < self.issued_before

    def describe(self) -> str:
        if self.expiring_within_days is not None:
            return f"expiring within {self.expiring_within_days} days"
        if self.issuer_id is not None:
            return f"issued by CA {self.issuer_id}"
        return f"issued before {self.issued_before.isoformat(timespec='seconds')}" if self.issued_before else "all"

    def parameters(self) -> dict[str, Any]:
        return {"expiring_within_days": self.expiring_within_days, "issuer_id": self.issuer_id, "all": self.all,
                "issued_before": self.issued_before}


def check_filter(session: Session, wanted: CertificateFilter, policy: Policy) -> None:
    """Refuse a filter that renewed certificates would match again (the rotation would never
    finish): a window as long as a new certificate lives, or the CA issuing now; and a CA that
    does not exist."""
    if wanted.expiring_within_days is not None and wanted.expiring_within_days >= policy.validity.station_days:
        raise RotationRefused("rotation.window", f"a renewed certificate lives {policy.validity.station_days} days, "
                                                 f"so it would expire within {wanted.expiring_within_days} days too; "
                                                 "use a shorter window, or all")
    if wanted.issuer_id is None:
        return
    authority = session.get(CertificateAuthority, wanted.issuer_id)
    if authority is None:
        raise LookupError(f"no CA {wanted.issuer_id!r}")
    if authority.role != CaRole.STATION:
        raise RotationRefused("rotation.issuer_role", f"CA {wanted.issuer_id} is a {authority.role} CA; station "
                                                      "certificates come from a station CA")
    if active_authority(session, CaRole.STATION).id == authority.id:
        raise RotationRefused("rotation.issuer_active",
                              f"{authority.name} issues station certificates now: renewed certificates would come "
                              "from it again; activate another station CA (a root rollover) or use all")


# --- the step ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Renewals:
    """A station's renewal and delivery rows and its certificates, newest first."""

    calls: list[OutboundCall]
    certificates: list[IssuedCertificate]


def _renewal_state(session: Session, ids: Sequence[str]) -> dict[str, _Renewals]:
    state = {sid: _Renewals([], []) for sid in ids}
    for chunk in in_lists(ids):
        for row in session.exec(select(OutboundCall).where(
                OutboundCall.station_id.in_(chunk), OutboundCall.purpose.in_([PURPOSE, DELIVERY_PURPOSE]))
                .order_by(OutboundCall.id.desc())):
            state[row.station_id].calls.append(row)
        for row in session.exec(select(IssuedCertificate).where(
                IssuedCertificate.station_id.in_(chunk), IssuedCertificate.kind == CertKind.STATION)
                .order_by(IssuedCertificate.id.desc())):
            state[row.station_id].certificates.append(row)
    return state


def _answer(row: OutboundCall) -> str | None:
    return json.loads(row.response or "{}").get("status") if row.status == CallStatus.ANSWERED else None


def renewal_plans(session: Session, station_ids: Sequence[str], wanted: Callable[[IssuedCertificate, datetime], bool],
                  describe: str, in_flight: timedelta) -> dict[str, Plan]:
    """Where each station stands in renewing a certificate in use that is ``wanted``."""
    now = utcnow()
    in_use = current_certificates(session)
    state = _renewal_state(session, station_ids)
    names = {ca.id: ca.name for ca in session.exec(select(CertificateAuthority))}
    return {sid: _renewal_plan(in_use.get(sid), state[sid], names, wanted, describe, now, in_flight)
            for sid in station_ids}


def _renewal_plan(current: IssuedCertificate | None, state: _Renewals, names: dict[str, str],
                  wanted: Callable[[IssuedCertificate, datetime], bool], describe: str, now: datetime,
                  in_flight: timedelta) -> Plan:
    if current is None:
        return done("no station certificate in use")
    using = f"{current.serial_hex} of {names.get(current.issuer_id, current.issuer_id)}"
    if not wanted(current, now):
        return done(f"uses {using}, not {describe}")
    since = current.activated_at or current.created_at
    open_row = next((r for r in state.calls if r.status in _OPEN), None)
    if open_row is not None:
        return waiting(f"{open_row.action} queued ({open_row.status}); it uses {using}")
    newer = next((c for c in state.certificates if c.id > current.id and c.status == CertStatus.ISSUED), None)
    if newer is not None:
        delivery = next((r for r in state.calls if r.purpose == DELIVERY_PURPOSE and r.reference == str(newer.id)),
                        None)
        if delivery is not None and delivery.status == CallStatus.FAILED:
            return stuck(f"delivering its new certificate {newer.serial_hex} failed: {delivery.error} "
                         "(see the station's alerts)")
        answer = _answer(delivery) if delivery is not None else None
        if answer == "Accepted":
            return waiting(f"it accepted its new certificate {newer.serial_hex}; waiting for it to reconnect "
                           "with it (profile 3)")
        if delivery is None:
            return waiting(f"new certificate {newer.serial_hex} signed; its delivery is being stored")
        return todo(f"it answered {answer or delivery.status} to its new certificate {newer.serial_hex}; "
                    "ask for a new CSR again")
    # A trigger the station accepted: its CSR may still come (the renewal module's in-flight window).
    trigger = next((r for r in state.calls if r.purpose == PURPOSE and r.created_at > since), None)
    if trigger is not None and _answer(trigger) == "Accepted" and trigger.updated_at > now - in_flight:
        return waiting("it accepted TriggerMessage SignChargingStationCertificate; its CSR is awaited")
    last = f" (last TriggerMessage answered {_answer(trigger) or trigger.status})" if trigger is not None else ""
    return todo(f"ask for a new CSR (TriggerMessage {TRIGGERS[CHARGING_STATION_CERTIFICATE]}): it uses "
                f"{using}{last}")


class RenewalStep:
    """Renew a station's certificate while the one it uses is ``wanted``."""

    def __init__(self, gateway: Gateway, actor: Actor, wanted: Callable[[IssuedCertificate, datetime], bool],
                 describe: str, *, name: str = RENEW) -> None:
        self.name = name
        self._gateway = gateway
        self._actor = actor
        self._wanted = wanted
        self._describe = describe

    def plans(self, session: Session, station_ids: Sequence[str]) -> dict[str, Plan]:
        return renewal_plans(session, station_ids, self._wanted, self._describe,
                             in_flight_window(self._gateway.ctx))

    async def apply(self, station_id: str) -> Progress | None:
        # Stored, then sent by the outbox worker of this process (rung now) as soon as it may.
        await asyncio.to_thread(request_certificate_renewal, self._gateway.ctx, self._actor, station_id)
        outbox_signal.ring()
        return None


def in_flight_window(ctx: Context) -> timedelta:
    return timedelta(hours=ctx.policy.renewal.in_flight_hours)


# --- the rotation -----------------------------------------------------------------------------


def _matching_stations(session: Session, wanted: CertificateFilter, now: datetime) -> list[str]:
    """Stations that use a matching certificate now, or are renewing one that matched: a
    station whose renewal is under way still belongs to the rotation until it is done."""
    return sorted(sid for sid, record in current_certificates(session).items() if wanted.matches(record, now))


async def rotate_station_certificates(gateway: Gateway, actor: Actor, wanted: CertificateFilter, *,
                                      dry_run: bool = False, max_seconds: float = 60.0,
                                      concurrency: int = 10) -> Report:
    """One pass: renew every matching station that is connected, wait (within ``max_seconds``)
    for each to reconnect with its new certificate; the rest are reported pending."""
    ctx = gateway.ctx
    started = utcnow()
    wanted = wanted.resolved(started)
    report = Report(ROTATION, dry_run, parameters=wanted.parameters(), started_at=started)
    deadline = Deadline(max_seconds)

    def select_stations(session: Session) -> list[str]:
        check_filter(session, wanted, ctx.policy)
        return _matching_stations(session, wanted, started)

    stations = await asyncio.to_thread(run_in_session, ctx, select_stations)
    report.add(Progress(None, "select", DONE, f"{len(stations)} station(s) use a certificate {wanted.describe()}"))
    step = RenewalStep(gateway, actor, wanted.matches, wanted.describe())
    report.extend(await run_steps(ctx, [step], stations, connected=gateway.reachable,
                                  deadline=deadline, dry_run=dry_run, concurrency=concurrency))
    return report.finish(phase=RENEW, complete=not report.pending)
