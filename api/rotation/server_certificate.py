"""Rotating the CSMS server certificates (both key families, A00.FR.318) and reloading the
running wss listener, so new handshakes get them while open connections keep their session.

Resumable: the served certificates are replaced only while they were issued before
``issued_before`` (fixed at the first pass, repeated by re-runs); a re-run after the issuance
finds them newer and only reloads.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlmodel import Session, select

from api.core.audit import Actor, run_in_session
from api.core.context import Context
from api.csms.security.authority_service import renew_server_certificates
from api.ocpp.transport.listener import Listeners
from api.rotation.report import ALREADY, DONE, PLANNED, SKIPPED, Progress, Report, RotationRefused
from storage.certificates import CertKind, CertStatus, IssuedCertificate
from storage.types import utcnow

ROTATION = "server-certificate"
ISSUE, RELOAD = "issue", "reload"


def served(session: Session) -> list[IssuedCertificate]:
    """The active CSMS server certificates, newest first."""
    return list(session.exec(select(IssuedCertificate).where(
        IssuedCertificate.kind == CertKind.SERVER, IssuedCertificate.status == CertStatus.ACTIVE)
        .order_by(IssuedCertificate.id.desc())))


def describe(records: list[IssuedCertificate]) -> str:
    return ", ".join(f"{r.serial_hex} (issued {r.created_at.isoformat(timespec='seconds')})" for r in records)


async def reload_listeners(listeners: Listeners | None, *, dry_run: bool = False,
                           only_if_changed: bool = False) -> Progress:
    """New handshakes of the wss listener in this process use what the database holds now.
    ``only_if_changed``: a resumed pass, where an earlier one may have reloaded already."""
    if listeners is None or listeners.tls is None:
        return Progress(None, RELOAD, SKIPPED, "no wss listener runs in this process; running listeners pick the "
                                               "change up on their next TLS watch (tls_watch_interval)")
    if dry_run:
        return Progress(None, RELOAD, PLANNED, "reload the wss listener's TLS material (open connections stay)")
    # A switch saved by a node that died before reloading is news to every node, not only this
    # one: a reload here tells the others (Listeners.on_tls_reload), a pass that finds nothing
    # new tells no one.
    if not await listeners.reload_tls(only_if_changed=only_if_changed):
        return Progress(None, RELOAD, ALREADY, f"the wss listener serves {_serving(listeners)} already")
    return Progress(None, RELOAD, DONE, f"new handshakes get {_serving(listeners)}; open connections keep theirs")


def _serving(listeners: Listeners) -> str:
    return ", ".join(f"{c.family}:{c.serial_hex}" for c in listeners.tls.material.server_certificates)


async def rotate_server_certificate(ctx: Context, actor: Actor, listeners: Listeners | None, *,
                                    issued_before: datetime | None = None, fqdn: str | None = None,
                                    dry_run: bool = False) -> Report:
    started = utcnow()
    issued_before = issued_before or started
    report = Report(ROTATION, dry_run, parameters={"issued_before": issued_before, "fqdn": fqdn},
                    started_at=started)
    current = await asyncio.to_thread(run_in_session, ctx, served)
    stale = [r for r in current if r.created_at < issued_before]
    if len(current) >= 2 and not stale:
        report.add(Progress(None, ISSUE, ALREADY, f"served certificates are newer than "
                                                  f"{issued_before.isoformat(timespec='seconds')}: {describe(current)}"))
    else:
        name = fqdn or (current[0].subject_cn if current else None)
        if not name:
            raise RotationRefused("rotation.fqdn", "no server certificate is served now, so its name is unknown; "
                                                   "give the FQDN")
        if dry_run:
            report.add(Progress(None, ISSUE, PLANNED, f"issue EC and RSA server certificates for {name}, replacing "
                                                      f"{describe(stale) or 'none'}"))
        else:
            issued = await asyncio.to_thread(renew_server_certificates, ctx, actor, name)
            report.add(Progress(None, ISSUE, DONE, f"issued {describe(issued)} for {name}"))
    report.add(await reload_listeners(listeners, dry_run=dry_run))
    return report.finish(phase=RELOAD, complete=True)
