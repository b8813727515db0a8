"""Trust anchors on stations (M04 DeleteCertificate, M05 InstallCertificate), no HTTP.

Every change runs in the same order: decide and record it (policies/trust_anchor; a refusal is
audited with its rule and nothing leaves), send it, record the station's answer, then refresh
the inventory of that certificate type (installed_certificates) so that what we show is what
the station holds. Any answer the station gives — Accepted, Rejected, Failed, NotFound — is an
outcome to report, not an error (TC_M_05, TC_M_21).

CSMSRootCertificate on a station with SecurityCtrlr.AdditionalRootCertificateCheck=true: the
station replaces its root only with one signed by that root (M05), so "our active CSMS root"
goes to it cross-signed by the root it holds (pki.rollover.root_to_install), and an uploaded PEM
must pass check_installable_rollover_root against it. The variable is read once per station
(GetVariables) and cached on the station's row.

Certificate capacity: a station's capacity is the maxLimit of SecurityCtrlr.CertificateEntries,
which only a device-model report (NotifyReport) carries; api/csms/provisioning/device_report.py keeps it on
the station's row. When it is known and the stored inventory already fills it, an install is
refused (install.capacity_full) before it leaves, unless the certificate is one the station
already holds, or an officer forces it with a reason (the station then decides). Counted are
the inventory's entries, not the sub-CAs of a V2G chain: a station counts at least as many, so
what is refused here is what it would refuse too. Unknown capacity or a never-read inventory:
no check, and a full station answers Failed (M05.FR.03), reported as such.

Sent to a connected station only, not queued in the outbox for later, on purpose
(docs/architecture.md, "Trust anchors go to connected stations only"): which root may go and
which entry may be deleted are decided from the station's live state (its
AdditionalRootCertificateCheck, its inventory, the delete's safety rules), and a decision kept
for a station that comes back days later would be taken on stale state. Durability is the
rotation's: scripts/rotate_csms_root.py re-reads every inventory on each pass and sends what is
still missing to stations that are connected now, so an interrupted or offline station is
caught up by the next pass (api/rotation/).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from ocpp.v201.datatypes import CertificateHashDataType
from ocpp.v201.enums import InstallCertificateUseEnumType
from sqlmodel import Session

from api.core.audit import Actor, require_station, run_in_session
from api.core.context import Context
from api.core.refusal import Refusal
from api.csms.provisioning.device_variables import read_variable
from api.csms.security.commands import DeleteCertificate, InstallCertificate
from api.csms.security.installed_certificates import InventoryRefresh, refresh_inventory, stored_rows
from api.csms.security.service import begin_trust_anchor_change, record_trust_anchor_result
from api.ocpp.command import Answer, from_payload, send_command, to_payload
from api.ocpp.gateway import Gateway
from api.ocpp.session import CallOutcome
from pki.authorities import active_authority, authority_by_id
from pki.delivery import (
    KnownAnchor,
    csms_anchors,
    identify_anchor,
    inventory_matches,
    reported_hash_data,
    served_anchor_hashes,
    station_inventory,
)
from pki.hashdata import CertificateHashData
from pki.rollover import RolloverError, root_to_install
from policies.model import Decision
from policies.trust_anchor import (
    CSMS_ROOT,
    FORCED,
    INSTALL_FORCED,
    check_delete,
    check_install_capacity,
    check_installable_rollover_root,
    check_installable_root,
)
from storage.certificates import CaRole
from storage.stations import InstalledCertificate, Station
from storage.types import utcnow

INSTALL, DELETE = "station.certificate.install", "station.certificate.delete"


@dataclass(frozen=True)
class StationAnswer:
    """How the station answered one InstallCertificate or DeleteCertificate."""

    call_status: str             # answered | error | timeout | not_connected
    status: str | None           # the station's status when answered: Accepted, Rejected, Failed, NotFound
    status_info: dict[str, Any] | None = None
    error_code: str | None = None
    description: str = ""
    sent: bool = False

    @classmethod
    def of(cls, sent: Answer) -> StationAnswer:
        outcome, result = sent.outcome, sent.result
        status_info = to_payload(result.status_info) if result is not None and result.status_info else None
        return cls(outcome.status, result.status if result is not None else None, status_info, outcome.error_code,
                   outcome.description, outcome.sent)

    def audit(self) -> dict[str, Any]:
        detail: dict[str, Any] = {"call_status": self.call_status, "status": self.status}
        if self.error_code:
            detail["error_code"] = self.error_code
        if self.status_info:
            detail["status_info"] = self.status_info.get("reasonCode")
        return detail


@dataclass(frozen=True)
class RootToSend:
    certificate_type: str
    pem: str
    subject: str
    serial_number: str           # hex, as CertificateHashData renders it
    sha256_fingerprint: str
    cross_signed: bool           # our root cross-signed by the root the station holds
    generation: int | None       # which of our generations, when it is one of our roots

    @classmethod
    def of(cls, certificate_type: str, pem: str, *, cross_signed: bool = False,
           generation: int | None = None) -> RootToSend:
        certificate = x509.load_pem_x509_certificate(pem.encode())
        return cls(certificate_type, pem, certificate.subject.rfc4514_string(), format(certificate.serial_number, "x"),
                   hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest(), cross_signed, generation)


@dataclass(frozen=True)
class InstallResult:
    root: RootToSend
    additional_root_check: bool | None   # as the station reported it (CSMSRootCertificate only)
    answer: StationAnswer
    inventory: InventoryRefresh | None   # the refresh after the install; None if nothing reached the station
    forced: bool = False                 # sent over install.capacity_full by an officer's decision


@dataclass(frozen=True)
class DeleteResult:
    certificate_type: str
    hash_data: CertificateHashData       # exactly what was sent: the station's own report
    forced: bool
    answer: StationAnswer
    inventory: InventoryRefresh | None
    inventory_before: InventoryRefresh | None = None   # delete_matching: the refresh it resolved against


class StationCallFailed(RuntimeError):
    """A step the request depends on got no usable answer (e.g. the inventory before a delete)."""

    def __init__(self, action: str, refresh: InventoryRefresh) -> None:
        super().__init__(f"{action} got no usable answer ({refresh.call_status}"
                         f"{': ' + refresh.description if refresh.description else ''}); nothing was deleted")
        self.action = action
        self.refresh = refresh


async def _require_station(gateway: Gateway, station_id: str) -> None:
    await asyncio.to_thread(run_in_session, gateway.ctx, lambda s: require_station(s, station_id))
    gateway.require_reachable(station_id)


def _refuse(decision: Decision) -> None:
    if not decision:
        raise Refusal(decision.rule, decision.reason)


def _allowed(decision: Decision, forced_rule: str, reason: str | None, detail: dict[str, Any]) -> bool:
    """Stop on a refusal; whether the change goes ahead only because it was forced, which the
    audit entry then says, with the officer's reason and what it overrode."""
    _refuse(decision)
    forced = decision.rule == forced_rule
    if forced:
        detail.update(forced=True, reason=(reason or "").strip(), overrode=decision.reason)
    return forced


async def _refresh_after(gateway: Gateway, actor: Actor, station_id: str, certificate_type: str,
                         outcome: CallOutcome, timeout: float | None) -> InventoryRefresh | None:
    # Whatever the answer, the station may have changed once it saw the request.
    if not outcome.sent or not gateway.reachable(station_id):
        return None
    return await refresh_inventory(gateway, actor, station_id, [certificate_type], timeout)


# --- AdditionalRootCertificateCheck -------------------------------------------------------------

async def additional_root_check(gateway: Gateway, station_id: str, timeout: float | None = None) -> bool | None:
    """The station's SecurityCtrlr.AdditionalRootCertificateCheck: cached, else asked and cached.
    A station without the variable does not do the check (False); no answer leaves it unknown."""
    cached = await asyncio.to_thread(run_in_session, gateway.ctx,
                                     lambda s: require_station(s, station_id).additional_root_check)
    if cached is not None:
        return cached
    read = await read_variable(gateway, station_id, "SecurityCtrlr", "AdditionalRootCertificateCheck", timeout)
    value = False if read.absent else read.as_bool()
    if value is not None:
        await asyncio.to_thread(_cache_additional_root_check, gateway.ctx, station_id, value)
    return value


def _cache_additional_root_check(ctx: Context, station_id: str, value: bool) -> None:
    def cache(session: Session) -> None:
        station = session.get(Station, station_id)
        station.additional_root_check = value
        session.add(station)
    run_in_session(ctx, cache)


# --- install ------------------------------------------------------------------------------------

async def install_root(gateway: Gateway, actor: Actor, station_id: str, certificate_type: str,
                       pem: str | None = None, *, force: bool = False, reason: str | None = None,
                       timeout: float | None = None) -> InstallResult:
    """InstallCertificate of ``pem``, or with ``pem`` None of our active CSMS root (as this
    station must receive it). Raises Refusal, before sending, for what policy refuses;
    ``force`` with a ``reason`` overrides only the station's known capacity."""
    await _require_station(gateway, station_id)
    arcc = None
    if certificate_type == CSMS_ROOT:
        arcc = await additional_root_check(gateway, station_id, timeout)
        if arcc:
            # What the station holds decides what it accepts: ask rather than trust an old list.
            # Without an answer the stored list decides; a wrong guess only earns a Rejected.
            await refresh_inventory(gateway, actor, station_id, [CSMS_ROOT], timeout)
    ctx = gateway.ctx
    root, forced = await asyncio.to_thread(begin_trust_anchor_change, ctx, actor, INSTALL, station_id,
                                           partial(_choose_root, ctx, station_id, certificate_type, pem, bool(arcc),
                                                   force, reason))
    sent = await send_command(gateway, station_id, InstallCertificate(
        certificate_type=InstallCertificateUseEnumType(certificate_type), certificate=root.pem), timeout)
    answer = StationAnswer.of(sent)
    await asyncio.to_thread(record_trust_anchor_result, ctx, actor, f"{INSTALL}.result", station_id,
                            {"certificate_type": certificate_type, "sha256": root.sha256_fingerprint,
                             **answer.audit()})
    inventory = await _refresh_after(gateway, actor, station_id, certificate_type, sent.outcome, timeout)
    return InstallResult(root, arcc, answer, inventory, forced)


def _held_root(session: Session, station_id: str, anchors: list[KnownAnchor]) -> tuple[KnownAnchor | None, int]:
    """The newest of our roots the station reports as CSMSRootCertificate, and how many CSMS
    roots it reports at all (a foreign one is counted but cannot be named)."""
    reported = [reported_hash_data(r) for r in stored_rows(session, station_id, CSMS_ROOT) if r.parent_id is None]
    ours = [a for a in (identify_anchor(data, anchors) for data in reported) if a is not None]
    return max(ours, key=lambda a: (a.generation, a.cross_signed), default=None), len(reported)


def _choose_root(ctx: Context, station_id: str, certificate_type: str, pem: str | None, arcc: bool, force: bool,
                 reason: str | None, session: Session, detail: dict[str, Any]) -> tuple[RootToSend, bool]:
    now = utcnow()
    detail.update(certificate_type=certificate_type, source="upload" if pem is not None else "csms-root",
                  additional_root_check=arcc)
    held, reported = (None, 0)
    if arcc and certificate_type == CSMS_ROOT:
        held, reported = _held_root(session, station_id, csms_anchors(session))
        if reported and held is None:
            raise Refusal("root.current_unknown",
                                   "the station checks that a new CSMS root is signed by the one it holds "
                                   "(AdditionalRootCertificateCheck), and the one it holds is not ours, so no "
                                   "certificate we can check would be accepted")
    # An uploaded root meets the key sizes and curves this CSO configured ([keys]), as every other
    # key it trusts does, not merely the defaults.
    keys = ctx.policy.keys
    if pem is None:
        root = _our_root(ctx, session, certificate_type, held, now)
    elif held is not None:
        _refuse(check_installable_rollover_root(pem, held.certificate, now=now, key_policy=keys))
        root = RootToSend.of(certificate_type, pem, cross_signed=True)
    else:
        _refuse(check_installable_root(pem, certificate_type, now=now, key_policy=keys))
        root = RootToSend.of(certificate_type, pem)
    detail.update(subject=root.subject, serial=root.serial_number, sha256=root.sha256_fingerprint,
                  cross_signed=root.cross_signed)
    return root, _within_capacity(session, station_id, root, held, force, reason, detail)


def _within_capacity(session: Session, station_id: str, root: RootToSend, held: KnownAnchor | None, force: bool,
                     reason: str | None, detail: dict[str, Any]) -> bool:
    """Whether ``root`` goes over the station's known capacity only because it is forced;
    raises Refusal when it may not go."""
    station = session.get(Station, station_id)
    if station.certificate_capacity is None:
        return False
    entries = [r for r in stored_rows(session, station_id) if r.parent_id is None]
    installed = len(entries) if station.inventory_refreshed_at is not None else None
    certificate = x509.load_pem_x509_certificate(root.pem.encode())
    # A cross-signed root is named by the root that signed it, the one the station holds.
    issuer = held.certificate if root.cross_signed and held is not None else certificate
    already = any(r.certificate_type == root.certificate_type and inventory_matches(reported_hash_data(r), certificate, issuer)
                  for r in entries)
    detail.update(capacity=station.certificate_capacity, installed=installed, already_installed=already)
    decision = check_install_capacity(capacity=station.certificate_capacity, installed=installed,
                                      already_installed=already, force=force, reason=reason)
    return _allowed(decision, INSTALL_FORCED, reason, detail)


def _our_root(ctx: Context, session: Session, certificate_type: str, held: KnownAnchor | None,
              now: datetime) -> RootToSend:
    if certificate_type != CSMS_ROOT:
        raise Refusal("root.source", f"our CSMS root is installed as {CSMS_ROOT}, not {certificate_type}")
    active = active_authority(session, CaRole.ROOT)
    generation = active.record.generation
    if held is None:
        _refuse(check_installable_root(active.record.certificate_pem, CSMS_ROOT, now=now))
        return RootToSend.of(CSMS_ROOT, active.record.certificate_pem, generation=generation)
    if held.generation >= generation:
        raise Refusal("root.already_installed",
                               f"the station already holds generation {held.generation}'s CSMS root"
                               f"{' (cross-signed)' if held.cross_signed else ''}; nothing newer to install")
    try:
        to_install = root_to_install(session, ctx.keystore, generation=generation, additional_root_check=True,
                                     urls=ctx.urls, station_holds=held.generation, now=now)
    except RolloverError as exc:
        raise Refusal("root.rollover", str(exc)) from None
    return RootToSend.of(CSMS_ROOT, to_install.pem, cross_signed=True, generation=generation)


# --- delete -------------------------------------------------------------------------------------

# Which stored inventory row a delete is about; raises LookupError / Refusal when none.
Selector = Callable[[Session, str], InstalledCertificate]


def by_row_id(row_id: int) -> Selector:
    def select_row(session: Session, station_id: str) -> InstalledCertificate:
        row = session.get(InstalledCertificate, row_id)
        if row is None or row.station_id != station_id:
            raise LookupError(f"station {station_id!r} has no inventory entry {row_id}; "
                              "list GET /api/v1/stations/{id}/installed-certificates")
        return row
    return select_row


def by_hash_data(data: CertificateHashData) -> Selector:
    def select_row(session: Session, station_id: str) -> InstalledCertificate:
        row = next((r for r in stored_rows(session, station_id) if reported_hash_data(r).matches(data)), None)
        if row is None:
            # Not what the station reported: the policy refuses it and says how to get it right.
            _refuse(check_delete(data, station_inventory(session, station_id), served_anchor_hashes=()))
        return row
    return select_row


def matching(certificate_type: str, *, serial_number: str | None = None, ca_id: str | None = None) -> Selector:
    """The one entry of ``certificate_type`` with that serial number, or that is one of our CAs
    (a root also matches its cross certificates), or the only entry of that type."""
    def select_row(session: Session, station_id: str) -> InstalledCertificate:
        rows = stored_rows(session, station_id, certificate_type)
        if serial_number is not None:
            wanted = serial_number.lower().lstrip("0") or "0"
            rows = [r for r in rows if (r.serial_number.lower().lstrip("0") or "0") == wanted]
        if ca_id is not None:
            rows = [r for r in rows if _is_our_ca(session, ca_id, r)]
        what = " ".join(p for p in (certificate_type, serial_number and f"serial {serial_number}",
                                    ca_id and f"of CA {ca_id}") if p)
        if not rows:
            raise LookupError(f"station {station_id!r} reports no {what}")
        if len(rows) > 1:
            raise Refusal("delete.ambiguous", f"station reports {len(rows)} entries for {what} (serials "
                                   f"{', '.join(r.serial_number for r in rows)}); name one by serial_number or ca_id")
        return rows[0]
    return select_row


def _is_our_ca(session: Session, ca_id: str, row: InstalledCertificate) -> bool:
    authority = authority_by_id(session, ca_id)
    if authority is None:
        raise LookupError(f"no CA {ca_id!r}")
    reported = reported_hash_data(row)
    if authority.record.role == CaRole.ROOT:
        return any(a.certificate.public_key() == authority.certificate.public_key() and a.matches(reported)
                   for a in csms_anchors(session))
    parent = authority_by_id(session, authority.record.parent_id)
    return parent is not None and inventory_matches(reported, authority.certificate, parent.certificate)


async def delete_certificate(gateway: Gateway, actor: Actor, station_id: str, select: Selector, *,
                             force: bool = False, reason: str | None = None,
                             timeout: float | None = None) -> DeleteResult:
    """DeleteCertificate with the station's own reported hash data (M04.FR.07), if the trust-anchor
    policy allows it — or an officer forces it with a reason, which goes into the audit."""
    await _require_station(gateway, station_id)
    ctx = gateway.ctx
    row, forced = await asyncio.to_thread(begin_trust_anchor_change, ctx, actor, DELETE, station_id,
                                          partial(_choose_delete, station_id, select, force, reason))
    target = reported_hash_data(row)
    sent = await send_command(gateway, station_id, DeleteCertificate(
        certificate_hash_data=from_payload(CertificateHashDataType, target.to_ocpp())), timeout)
    answer = StationAnswer.of(sent)
    await asyncio.to_thread(record_trust_anchor_result, ctx, actor, f"{DELETE}.result", station_id,
                            {"certificate_type": row.certificate_type, "serial": row.serial_number,
                             **answer.audit()})
    inventory = await _refresh_after(gateway, actor, station_id, row.certificate_type, sent.outcome, timeout)
    return DeleteResult(row.certificate_type, target, forced, answer, inventory)


def _choose_delete(station_id: str, select: Selector, force: bool, reason: str | None, session: Session,
                   detail: dict[str, Any]) -> tuple[InstalledCertificate, bool]:
    row = select(session, station_id)
    detail.update(certificate_type=row.certificate_type, hash_algorithm=row.hash_algorithm,
                  serial=row.serial_number, row_id=row.id)
    decision = check_delete(reported_hash_data(row), station_inventory(session, station_id),
                            served_anchor_hashes=served_anchor_hashes(session), force=force, reason=reason)
    return row, _allowed(decision, FORCED, reason, detail)


async def delete_matching(gateway: Gateway, actor: Actor, station_id: str, certificate_type: str, *,
                          serial_number: str | None = None, ca_id: str | None = None, force: bool = False,
                          reason: str | None = None, timeout: float | None = None) -> DeleteResult:
    """One operator request, two calls (TC_M_20): GetInstalledCertificateIds for the type, then
    DeleteCertificate with exactly the hash data the station just returned for the entry chosen
    by ``serial_number`` / ``ca_id`` (or the only entry of the type)."""
    await _require_station(gateway, station_id)
    before = await refresh_inventory(gateway, actor, station_id, [certificate_type], timeout)
    if not before.updated:
        raise StationCallFailed("GetInstalledCertificateIds", before)
    result = await delete_certificate(gateway, actor, station_id,
                                      matching(certificate_type, serial_number=serial_number, ca_id=ca_id),
                                      force=force, reason=reason, timeout=timeout)
    return DeleteResult(result.certificate_type, result.hash_data, result.forced, result.answer, result.inventory,
                        before)
