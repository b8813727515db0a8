"""The per-station steps of a CSMS root rollover that touch a station's trust anchors.

- install: the new generation's root reaches the station — self-signed, or for a station with
  SecurityCtrlr.AdditionalRootCertificateCheck=true cross-signed by the root it holds (M05) —
  and is seen in its refreshed inventory;
- delete: the older generations' roots leave the station, deleted with the hash data the station
  itself reported (M04.FR.07), and only once the station is proven on the new hierarchy.

Both decide from the station's stored inventory (api/csms/security/installed_certificates.py), which every
install and delete refreshes, and send through api/csms/security/trust_anchors.py, whose policy checks
(installable root, delete safety) apply unforced: by the time the old root is deleted it
anchors nothing we serve, and the new root is there, so it is not the station's last.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from api.core.audit import Actor, run_in_session
from api.csms.security.authority_service import root_for_station
from api.csms.security.installed_certificates import InventoryRefresh, refresh_inventory
from api.csms.security.renewal import current_certificates
from api.csms.security.trust_anchors import (
    StationAnswer,
    additional_root_check,
    by_row_id,
    delete_certificate,
    install_root,
)
from api.ocpp.gateway import Gateway
from api.ocpp.session import ANSWERED
from api.rotation.report import FAILED, PENDING, Progress
from api.rotation.runner import Plan, blocked, done, todo
from pki.delivery import KnownAnchor, csms_anchors, identify_anchor, reported_hash_data
from pki.rollover import load_generation
from policies.trust_anchor import CSMS_ROOT
from storage.certificates import CaRole, CertificateAuthority, CertKind, CertStatus, IssuedCertificate
from storage.filters import in_lists
from storage.stations import InstalledCertificate, Station

INSTALL, DELETE = "install-root", "delete-old-root"


@dataclass(frozen=True)
class HeldRoot:
    row: InstalledCertificate
    anchor: KnownAnchor | None     # None: a CSMS root that is not one of ours

    def describe(self) -> str:
        if self.anchor is None:
            return f"a foreign root (serial {self.row.serial_number})"
        how = " (cross-signed)" if self.anchor.cross_signed else ""
        return f"G{self.anchor.generation}'s root{how}"


@dataclass(frozen=True)
class StationRoots:
    station: Station
    held: list[HeldRoot]

    @property
    def known(self) -> bool:
        """Whether its inventory was ever read (an empty list is then really empty)."""
        return self.station.inventory_refreshed_at is not None

    def of_generation(self, generation: int) -> list[HeldRoot]:
        return [h for h in self.held if h.anchor is not None and h.anchor.generation == generation]

    def older_than(self, generation: int) -> list[HeldRoot]:
        return [h for h in self.held if h.anchor is not None and h.anchor.generation < generation]


def station_roots(session: Session, station_ids: Sequence[str]) -> dict[str, StationRoots]:
    """Each station's CSMS roots as last reported, told apart against our roots and crosses."""
    anchors = csms_anchors(session)
    roots: dict[str, StationRoots] = {}
    for chunk in in_lists(station_ids):
        for station in session.exec(select(Station).where(Station.id.in_(chunk))):
            roots[station.id] = StationRoots(station, [])
        rows = session.exec(select(InstalledCertificate).where(
            InstalledCertificate.station_id.in_(chunk), InstalledCertificate.certificate_type == CSMS_ROOT,
            InstalledCertificate.parent_id == None).order_by(InstalledCertificate.id))  # noqa: E711
        for row in rows:
            roots[row.station_id].held.append(HeldRoot(row, identify_anchor(reported_hash_data(row), anchors)))
    return roots


def _unanswered(station_id: str, step: str, action: str, call_status: str, description: str) -> Progress:
    # Not connected or no answer in time: try again later; a CALLERROR: the station failed it.
    outcome = FAILED if call_status == "error" else PENDING
    return Progress(station_id, step, outcome, f"{action}: {call_status}{': ' + description if description else ''}")


async def _refreshed(gateway: Gateway, actor: Actor, station_id: str, step: str) -> Progress | None:
    refresh: InventoryRefresh = await refresh_inventory(gateway, actor, station_id, [CSMS_ROOT])
    if refresh.updated:
        return None
    if refresh.call_status == ANSWERED:
        return Progress(station_id, step, FAILED, f"GetInstalledCertificateIds answered {refresh.station_status}")
    return _unanswered(station_id, step, "GetInstalledCertificateIds", refresh.call_status, refresh.description)


def _answered_accepted(station_id: str, step: str, action: str, answer: StationAnswer,
                       fine: tuple[str, ...] = ("Accepted",)) -> Progress | None:
    if answer.call_status != ANSWERED:
        return _unanswered(station_id, step, action, answer.call_status, answer.description)
    if answer.status not in fine:
        return Progress(station_id, step, FAILED, f"the station answered {action} {answer.status}")
    return None


def _read(gateway: Gateway, work):
    return asyncio.to_thread(run_in_session, gateway.ctx, work)


# --- install ------------------------------------------------------------------------------------


def install_plans(session: Session, station_ids: Sequence[str], new: int) -> dict[str, Plan]:
    roots = station_roots(session, station_ids)
    return {sid: _install_plan(roots[sid], new) for sid in station_ids}


def _install_plan(roots: StationRoots, new: int) -> Plan:
    have = roots.of_generation(new)
    if have:
        return done(f"holds {have[0].describe()}")
    if not roots.known:
        return todo(f"read its CSMS roots, then install G{new}'s root")
    ours = [h.anchor.generation for h in roots.held if h.anchor is not None]
    check = roots.station.additional_root_check
    if check and ours:
        return todo(f"install G{new}'s root cross-signed by G{max(ours)}'s (AdditionalRootCertificateCheck)")
    if check is None:
        return todo(f"read AdditionalRootCertificateCheck, then install G{new}'s root (cross-signed by the root "
                    "it holds if the check is on)")
    return todo(f"install G{new}'s self-signed root")


class _RootStep:
    """A rollover step that acts on the CSMS roots a station reports right now."""

    name: str

    def __init__(self, gateway: Gateway, actor: Actor, new: int) -> None:
        self._gateway, self._actor, self._new = gateway, actor, new

    async def _current_roots(self, station_id: str):
        """(None, the roots it holds after a fresh GetInstalledCertificateIds), or (the progress
        that stopped the refresh, None)."""
        stopped = await _refreshed(self._gateway, self._actor, station_id, self.name)
        if stopped is not None:
            return stopped, None
        return None, (await _read(self._gateway, lambda s: station_roots(s, [station_id])))[station_id]


class InstallRootStep(_RootStep):
    name = INSTALL

    def plans(self, session: Session, station_ids: Sequence[str]) -> dict[str, Plan]:
        return install_plans(session, station_ids, self._new)

    async def apply(self, station_id: str) -> Progress | None:
        gateway, actor = self._gateway, self._actor
        # What it holds decides what it accepts: ask rather than trust an old list.
        stopped, roots = await self._current_roots(station_id)
        if stopped is not None:
            return stopped
        if roots.of_generation(self._new):
            return None
        check = await additional_root_check(gateway, station_id)
        if check is None:
            return Progress(station_id, self.name, PENDING, "SecurityCtrlr.AdditionalRootCertificateCheck could not "
                                                            "be read (GetVariables unanswered)")
        ours = [h.anchor.generation for h in roots.held if h.anchor is not None]
        if check and ours:
            root = await asyncio.to_thread(root_for_station, gateway.ctx, actor, station_id,
                                           generation=self._new, station_holds=max(ours))
            pem = root.pem
        else:
            # No check, or nothing of ours to sign with (install_root refuses a station holding
            # only a foreign root, since it would reject whatever we send).
            pem = (await _read(gateway, lambda s: load_generation(s, self._new).root.record.certificate_pem))
        result = await install_root(gateway, actor, station_id, CSMS_ROOT, pem)
        return _answered_accepted(station_id, self.name, "InstallCertificate", result.answer)


# --- proof of the new hierarchy, and delete ----------------------------------------------------


def _switched_at(session: Session, new: int) -> datetime | None:
    """When the CSMS began serving ``new``'s server certificates (None: not yet)."""
    server_cas = session.exec(select(CertificateAuthority.id).where(
        CertificateAuthority.generation == new, CertificateAuthority.role == CaRole.SERVER)).all()
    if not server_cas:
        return None
    return min(session.exec(select(IssuedCertificate.created_at).where(
        IssuedCertificate.kind == CertKind.SERVER, IssuedCertificate.status == CertStatus.ACTIVE,
        IssuedCertificate.issuer_id.in_(server_cas))).all(), default=None)


def proofs(session: Session, station_ids: Sequence[str], new: int,
           roots: dict[str, StationRoots] | None = None) -> dict[str, str | None]:
    """Per station, None when it is proven on generation ``new`` — it holds the new root, and it
    connected under the new hierarchy: on profile 3 with a station certificate of the new
    generation (in use, hence presented in a handshake after the switch), or, without a station
    certificate, at least once since the CSMS serves the new server certificates — else why not."""
    roots = roots or station_roots(session, station_ids)
    switched = _switched_at(session, new)
    station_cas = set(session.exec(select(CertificateAuthority.id).where(
        CertificateAuthority.generation == new, CertificateAuthority.role == CaRole.STATION)).all())
    in_use = current_certificates(session)
    result: dict[str, str | None] = {}
    for sid in station_ids:
        station = roots[sid].station
        certificate = in_use.get(sid)
        if switched is None:
            result[sid] = f"the CSMS does not serve G{new}'s server certificates yet"
        elif not roots[sid].of_generation(new):
            result[sid] = f"G{new}'s root is not in its inventory"
        elif certificate is not None:
            result[sid] = None if (certificate.issuer_id in station_cas and certificate.status == CertStatus.ACTIVE) \
                else f"it still connects with certificate {certificate.serial_hex} of an older generation"
        else:
            result[sid] = None if station.last_connected_at and station.last_connected_at >= switched \
                else f"it has not connected since the CSMS serves G{new}'s server certificates"
    return result


def delete_plans(session: Session, station_ids: Sequence[str], new: int) -> dict[str, Plan]:
    roots = station_roots(session, station_ids)
    proven = proofs(session, station_ids, new, roots)
    plans = {}
    for sid in station_ids:
        old = roots[sid].older_than(new)
        if not old:
            plans[sid] = done(f"holds no root older than G{new}")
        elif proven[sid] is not None:
            plans[sid] = blocked(f"keeps {', '.join(h.describe() for h in old)} until it is proven on G{new}: "
                                 f"{proven[sid]}")
        else:
            plans[sid] = todo("delete " + ", ".join(f"{h.describe()} (serial {h.row.serial_number}, "
                                                    f"{h.row.hash_algorithm})" for h in old))
    return plans


class DeleteOldRootStep(_RootStep):
    name = DELETE

    def plans(self, session: Session, station_ids: Sequence[str]) -> dict[str, Plan]:
        return delete_plans(session, station_ids, self._new)

    async def apply(self, station_id: str) -> Progress | None:
        gateway, actor = self._gateway, self._actor
        # Deleted with the hash data it reports now, under the algorithm it chose (M04.FR.07).
        stopped, roots = await self._current_roots(station_id)
        if stopped is not None:
            return stopped
        for held in roots.older_than(self._new):
            result = await delete_certificate(gateway, actor, station_id, by_row_id(held.row.id))
            # NotFound: gone already; the refreshed inventory tells.
            stopped = _answered_accepted(station_id, self.name, "DeleteCertificate", result.answer,
                                         ("Accepted", "NotFound"))
            if stopped is not None:
                return stopped
        return None
