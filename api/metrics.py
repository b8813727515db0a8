"""Prometheus metrics for the people who run ChargeCA (GET /metrics).

Two kinds of numbers. What happened (messages, errors, admission refusals) is counted where it
happens (api/ocpp/metrics.py). What *is* (connections, certificates, the outbox) is read when
Prometheus scrapes, by ``StateCollector``: from the database, so every node of a cluster reports
the same certificate and outbox figures and nothing is lost on a restart, and from this node's
gateway for its connections. Nothing here names a station: labels are bounded sets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import Session, select

from api.core.context import Context
from api.ocpp.metrics import EVENTS
from storage.certificates import CertStatus, IssuedCertificate
from storage.db import session_scope
from storage.outbox import CallStatus, OutboundCall
from storage.types import utcnow

EXPIRY_WINDOW = timedelta(days=30)
PROFILES = (1, 2, 3)
_WAITING = (CallStatus.PENDING, CallStatus.SENT)


class StateCollector(Collector):
    """Reads the state at scrape time. Blocking (database): scrape from a worker thread."""

    def __init__(self, ctx: Context, connections_by_profile: Mapping[int, int],
                 rest_turns: RestTurns | None = None) -> None:
        self._ctx = ctx
        self._connections = connections_by_profile
        self._rest_turns = rest_turns

    def collect(self) -> Iterable[Metric]:
        connections = GaugeMetricFamily("chargeca_connections", "Stations connected to this node, by the "
                                        "security profile the connection proved.", labels=["security_profile"])
        for profile in PROFILES:
            connections.add_metric([str(profile)], self._connections.get(profile, 0))
        yield connections
        if self._rest_turns is not None:
            yield from _rest_turns(self._rest_turns)
        with session_scope(self._ctx.engine) as session:
            yield from _certificates(session)
            yield from _outbox(session)


@dataclass(frozen=True)
class RestTurns:
    """The REST requests of this process worked on and waiting for a turn (api/rest/active_requests.py),
    read on its event loop."""

    limit: int
    working: int
    waiting: int


def _rest_turns(turns: RestTurns) -> Iterable[Metric]:
    yield GaugeMetricFamily("chargeca_rest_requests_working", "REST requests this process works on now (at most "
                            "chargeca_rest_requests_limit; one waiting for a station or its client is not "
                            "counted).", value=turns.working)
    yield GaugeMetricFamily("chargeca_rest_requests_waiting", "REST requests of this process waiting for a turn.",
                            value=turns.waiting)
    yield GaugeMetricFamily("chargeca_rest_requests_limit", "[rest] max_active_requests.", value=turns.limit)


def _certificates(session: Session) -> Iterable[Metric]:
    issued = CounterMetricFamily("chargeca_certificates_issued", "Certificates the CAs have issued, by kind.",
                                 labels=["kind"])
    revoked = CounterMetricFamily("chargeca_certificates_revoked", "Certificates revoked, by kind.", labels=["kind"])
    expiring = GaugeMetricFamily("chargeca_certificates_expiring_30d", "Unrevoked certificates whose validity "
                                 "ends within 30 days, by kind.", labels=["kind"])
    kind = IssuedCertificate.kind
    for name, count in session.exec(select(kind, func.count()).group_by(kind)):
        issued.add_metric([name], count)
    revoked_rows = select(kind, func.count()).where(IssuedCertificate.status == CertStatus.REVOKED).group_by(kind)
    for name, count in session.exec(revoked_rows):
        revoked.add_metric([name], count)
    now = utcnow()
    soon = (select(kind, func.count())
            .where(IssuedCertificate.status != CertStatus.REVOKED, IssuedCertificate.not_after > now,
                   IssuedCertificate.not_after <= now + EXPIRY_WINDOW).group_by(kind))
    for name, count in session.exec(soon):
        expiring.add_metric([name], count)
    return issued, revoked, expiring


def _outbox(session: Session) -> Iterable[Metric]:
    depth = GaugeMetricFamily("chargeca_outbox_depth", "Calls to stations stored and not yet answered, by "
                              "purpose and status (pending: to be sent; sent: answer awaited).",
                              labels=["purpose", "status"])
    age = GaugeMetricFamily("chargeca_outbox_oldest_age_seconds", "Age of the oldest call not yet answered, "
                            "by purpose.", labels=["purpose"])
    purpose = func.coalesce(OutboundCall.purpose, "operator")
    waiting = OutboundCall.status.in_(_WAITING)
    for name, status, count in session.exec(
            select(purpose, OutboundCall.status, func.count()).where(waiting).group_by(purpose, OutboundCall.status)):
        depth.add_metric([name, status], count)
    now = utcnow()
    for name, oldest in session.exec(select(purpose, func.min(OutboundCall.created_at)).where(waiting)
                                     .group_by(purpose)):
        if oldest is not None:
            age.add_metric([name], max(0.0, (now - oldest).total_seconds()))
    return depth, age


def render(ctx: Context, connections_by_profile: Mapping[int, int], rest_turns: RestTurns | None = None) -> bytes:
    """The exposition text: the event counts and the state read now. Blocking."""
    state = CollectorRegistry(auto_describe=False)
    state.register(StateCollector(ctx, connections_by_profile, rest_turns))
    return generate_latest(EVENTS) + generate_latest(state)
