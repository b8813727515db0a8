"""Operator actions on the CA itself: sign, revoke, server certificates, V2G, CRLs, root rollover.

Each runs in one audited transaction (api/core/audit.py); the CLI, REST and the rotations call
these, so each is audited the same way whichever door it came through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from api.core.audit import Actor, audited, run_in_session
from api.core.context import Context
from api.core.refusal import Refusal
from api.csms.security.renewal import V2G_CERTIFICATE
from api.ocpp.transport.disconnects import disconnect_revoked
from pki import revocation, rollover, v2g
from pki.authorities import Authority, active_authority, all_authorities, issue_server_certificates
from pki.issuance import IssuedChain, sign_station_csr
from storage.certificates import CaRole, IssuedCertificate
from storage.db import session_scope


def issue_from_csr(session: Session, ctx: Context, station_id: str, csr_pem: str,
                   certificate_type: str | None = None, *, lint: bool = True) -> tuple[IssuedChain, dict[str, Any]]:
    """Sign a station's CSR (a V2G one with the V2G sub-CA) in ``session``; the chain and what the
    ``certificate.sign`` audit entry says of it, the same whichever door asked (an operator, or
    the station's SignCertificate, whose entry adds how it came)."""
    sign = v2g.sign_v2g_csr if certificate_type == V2G_CERTIFICATE else sign_station_csr
    issued = sign(session, ctx.keystore, station_id=station_id, csr_pem=csr_pem, policy=ctx.policy,
                  urls=ctx.urls, lint=lint)
    return issued, {"serial": issued.record.serial_hex, "issuer": issued.issuer.id,
                    "ignored_csr_extensions": list(issued.ignored_extensions)}


def sign_csr(ctx: Context, actor: Actor, station_id: str, csr_pem: str, *, lint: bool = True) -> IssuedChain:
    with audited(ctx, actor, "certificate.sign", station_id) as (session, detail):
        if not lint:   # an officer's choice on the CLI: the record says the certificate was not linted
            detail.update(lint_skipped=True)
        issued, signed = issue_from_csr(session, ctx, station_id, csr_pem, lint=lint)
        detail.update(signed)
    return issued


def revoke_certificate(ctx: Context, actor: Actor, serial: str, reason: str,
                       issuer_id: str | None = None) -> IssuedCertificate:
    with audited(ctx, actor, "certificate.revoke", serial) as (session, detail):
        record = revocation.revoke(session, serial, reason, issuer_id=issuer_id)
        disconnect_revoked(session, record)  # its live connections close once this commits
        detail.update(reason=record.revocation_reason, station=record.station_id, issuer=record.issuer_id)
    return record


def renew_server_certificates(ctx: Context, actor: Actor, fqdn: str) -> list[IssuedCertificate]:
    with audited(ctx, actor, "server_certificate.renew", fqdn) as (session, detail):
        issued = issue_server_certificates(session, ctx.keystore, fqdn=fqdn, policy=ctx.policy, urls=ctx.urls)
        detail.update(serials=[r.serial_hex for r in issued])
    return issued


def crl_der(ctx: Context, ca_id: str | None = None) -> bytes:
    """The CRL of ``ca_id`` (default: the station CA). Re-signing is not an operator action."""
    with session_scope(ctx.engine) as session:
        ca_id = ca_id or active_authority(session, CaRole.STATION).id
        return revocation.current_crl(session, ctx.keystore, ca_id, ctx.policy)


def list_authorities(ctx: Context) -> list[Authority]:
    """Every CA (root, station, server, V2G; retired ones too), oldest first: what `ca list` and
    GET /api/v1/ca show."""
    return run_in_session(ctx, all_authorities)


@dataclass(frozen=True)
class V2gCa:
    authority: Authority
    created: bool


def create_v2g_ca(ctx: Context, actor: Actor) -> V2gCa:
    """The V2G (ISO 15118) sub-CA under the active root, created on the first call; later calls
    return it unchanged (``created`` False). Either way audited as ca.v2g.create."""
    with audited(ctx, actor, "ca.v2g.create", "v2g") as (session, detail):
        before = v2g.v2g_authority(session)
        authority = v2g.ensure_v2g_ca(session, ctx.keystore, policy=ctx.policy, urls=ctx.urls)
        created = before is None or before.id != authority.id
        detail.update(ca=authority.id, created=created)
    return V2gCa(authority, created)


def stage_generation(ctx: Context, actor: Actor) -> rollover.StagedGeneration:
    """Root G(n+1) and its sub-CAs, inactive; the staged one again when it exists already."""
    with audited(ctx, actor, "ca.rollover.stage", "csms-root") as (session, detail):
        staged = rollover.stage_next_generation(session, ctx.keystore, policy=ctx.policy, urls=ctx.urls)
        detail.update(generation=staged.generation, authorities={a.record.role: a.id for a in staged.authorities})
    return staged


def root_for_station(ctx: Context, actor: Actor, station_id: str, *, generation: int,
                     station_holds: int) -> rollover.RootToInstall:
    """``generation``'s root cross-signed by the root the station holds (AdditionalRootCertificateCheck);
    the cross certificate is made on first use and kept."""
    with audited(ctx, actor, "ca.rollover.cross_certificate", station_id) as (session, detail):
        root = rollover.root_to_install(session, ctx.keystore, generation=generation, additional_root_check=True,
                                        urls=ctx.urls, station_holds=station_holds)
        detail.update(generation=generation, signed_by_generation=station_holds)
    return root


def activate_generation(ctx: Context, actor: Actor, generation: int) -> list[IssuedCertificate]:
    """``generation`` issues from now on, and the CSMS serves server certificates of its server CA
    (the ones served already when an earlier run switched)."""
    with audited(ctx, actor, "ca.rollover.activate", f"generation {generation}") as (session, detail):
        rollover.activate_generation(session, generation)
        served = rollover.switch_server_certificates(session, ctx.keystore, generation=generation,
                                                     policy=ctx.policy, urls=ctx.urls)
        detail.update(server_certificates=[r.serial_hex for r in served])
    return served


RETIRE_ACTION = "ca.rollover.retire"


def retire_generation(ctx: Context, actor: Actor, generation: int, *, force: bool = False,
                      reason: str | None = None) -> list[str]:
    """``generation`` is trusted no more. Forcing it past stations that still depend on it needs a
    reason, kept in the audit entry with those stations."""
    if force and not (reason and reason.strip()):
        raise Refusal("rollover.force_reason", "forcing a retirement needs a non-empty reason for the "
                                                        "audit log")
    with audited(ctx, actor, RETIRE_ACTION, f"generation {generation}") as (session, detail):
        stations = rollover.retire_generation(session, generation, force=force)
        if force:
            detail.update(forced=True, reason=reason.strip(), stations_still_on_it=stations[:100])
    return stations
