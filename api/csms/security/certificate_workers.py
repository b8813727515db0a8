"""The background side of station certificates, started with the gateway (``chargeca serve``).

- the signing of SignCertificate requests accepted and left unsigned (by a process that died):
  all of them at start, then those of any node that waited ``UNSIGNED_GRACE``;
- the outbox engine (api/csms/outbox/engine.py), which sends CertificateSigned deliveries and
  renewal requests, and the service's other purposes it is given (operator jobs): one engine per
  process for every stored call, stopped with these workers;
- a periodic pass: the renewal scheduler (certificates in use that expire within
  ``[renewal] window_days`` get a renewal request, paced fleet-wide) and the revocation of
  superseded certificates whose successor has been in use for
  ``[delivery] revoke_superseded_after_hours``.

``clock`` is the time everything here goes by; tests pass their own instead of sleeping.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from api.core.context import Context
from api.core.failure_log import FailureLog
from api.csms.outbox import signal as outbox_signal
from api.csms.outbox.engine import Kind, Outbox
from api.csms.security.certificate_batches import finish_accepted
from api.csms.security.certificate_outbox import CertificateDelivery, RenewalTrigger
from api.csms.security.certificate_signing import UNSIGNED_GRACE
from api.csms.security.renewal import RenewalBatch, schedule_expiring
from api.ocpp.gateway import Gateway
from api.ocpp.transport.disconnects import disconnect_revoked
from pki.supersession import SUPERSEDED_REASON, revoke_superseded
from storage import advisory_locks, audit
from storage.db import session_scope
from storage.types import utcnow

log = logging.getLogger("chargeca.ocpp.certificates")

LIFECYCLE = "system:certificate-lifecycle"


@dataclass(frozen=True)
class Pass:
    """What one periodic pass did."""

    renewals: RenewalBatch
    revoked: list[str]   # serials


def lifecycle_pass(ctx: Context, now: datetime) -> Pass:
    """Blocking: schedule renewals, then revoke what the grace period releases (each audited).
    With several nodes on one database, one of them runs a pass at a time; the others' passes
    at the same moment do nothing (the next one looks again)."""
    with advisory_locks.hold(ctx.engine, advisory_locks.LIFECYCLE_PASS) as mine:
        if not mine:
            return Pass(RenewalBatch([], []), [])
        return _lifecycle_pass(ctx, now)


def _lifecycle_pass(ctx: Context, now: datetime) -> Pass:
    with session_scope(ctx.engine) as session:
        renewals = schedule_expiring(session, policy=ctx.policy, now=now)
    with session_scope(ctx.engine) as session:
        revoked = revoke_superseded(session, grace_hours=ctx.policy.delivery.revoke_superseded_after_hours, now=now)
        for record in revoked:
            disconnect_revoked(session, record)
            audit.append(session, actor=LIFECYCLE, action="certificate.revoke", target=record.serial_hex,
                         outcome=audit.Outcome.SUCCESS,
                         detail={"reason": SUPERSEDED_REASON, "station": record.station_id, "issuer": record.issuer_id,
                                 "trigger": "successor in use for [delivery] revoke_superseded_after_hours"})
    return Pass(renewals, [record.serial_hex for record in revoked])


class CertificateWorkers:
    def __init__(self, gateway: Gateway, *, other_kinds: Sequence[Kind] = (), clock: Callable[[], datetime] = utcnow,
                 scan_interval: float = 5.0, pass_interval: float | None = 60.0) -> None:
        """``pass_interval`` None: no periodic pass (whoever holds the workers calls ``run_pass``)."""
        self._ctx = gateway.ctx
        self._clock = clock
        self._pass_interval = pass_interval
        policy = gateway.ctx.policy
        self.outbox = Outbox(gateway, [CertificateDelivery(policy), RenewalTrigger(policy), *other_kinds],
                             clock=clock, scan_interval=scan_interval)
        self._task: asyncio.Task | None = None
        self._signing: asyncio.Task | None = None

    def start(self) -> "CertificateWorkers":
        self.outbox.start()
        self._signing = asyncio.create_task(self._finish_unsigned(), name="certificate-unsigned")
        if self._pass_interval is not None:
            self._task = asyncio.create_task(self._run(), name="certificate-lifecycle")
        return self

    async def _finish_unsigned(self) -> None:
        accepted_before = None  # at start: whatever is unsigned, this node's dead process left it
        failures = FailureLog(log, "signing accepted certificate requests")
        while True:
            await failures.attempt(lambda: self._sign_unsigned(accepted_before))
            await asyncio.sleep(UNSIGNED_GRACE.total_seconds())
            accepted_before = utcnow() - UNSIGNED_GRACE

    async def _sign_unsigned(self, accepted_before: datetime | None) -> None:
        done = await finish_accepted(self._ctx, accepted_before)
        if done:
            log.info("signed %d certificate requests accepted before and left unsigned", len(done))

    async def run_pass(self) -> Pass:
        done = await asyncio.to_thread(lifecycle_pass, self._ctx, self._clock())
        if done.renewals.queued:
            outbox_signal.ring()
        if done.renewals.queued or done.revoked:
            log.info("certificate pass: %d renewals queued, %d superseded certificates revoked",
                     len(done.renewals.queued), len(done.revoked))
        return done

    async def _run(self) -> None:
        failures = FailureLog(log, "certificate lifecycle pass")
        while True:
            await failures.attempt(self.run_pass)
            await asyncio.sleep(self._pass_interval)

    async def aclose(self) -> None:
        tasks = [task for task in (self._task, self._signing) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.outbox.aclose()


def start_certificate_workers(gateway: Gateway, **options) -> CertificateWorkers:
    """Create and start the workers on the running loop; ``await workers.aclose()`` stops them."""
    return CertificateWorkers(gateway, **options).start()
