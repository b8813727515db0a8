"""A station's certificate inventory (M03): asked for with GetInstalledCertificateIds and kept
exactly as the station reported it.

What is stored is the station's own CertificateHashData (its hash algorithm, its hex case,
its serial rendering), because DeleteCertificate must send those very values back (M04.FR.07).
A refresh replaces the entries of the types it asked for (all types when it asked for all);
an entry reported again keeps its row id, so an operator holding an id from an earlier listing
still names the same certificate. The sub-CAs of a V2GCertificateChain are rows of their own,
linked to their leaf's row by ``parent_id`` (M03.FR.05).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ocpp.v201.enums import GetCertificateIdUseEnumType, GetInstalledCertificateStatusEnumType
from sqlmodel import Session, select

from api.core.audit import Actor, require_station
from api.core.refusal import Refusal
from api.csms.security.commands import GetInstalledCertificateIds
from api.csms.security.service import record_trust_anchor_result
from api.ocpp.command import Answer, send_command
from api.ocpp.gateway import Gateway
from pki.delivery import KnownAnchor, csms_anchors, identify_anchor, reported_hash_data
from pki.hashdata import CertificateHashData
from storage.stations import InstalledCertificate, Station
from storage.types import utcnow

INVENTORY = "station.certificate.inventory"
CERTIFICATE_ID_TYPES: tuple[str, ...] = tuple(use.value for use in GetCertificateIdUseEnumType)
# The answers that say what the station holds.
REPORTED = (GetInstalledCertificateStatusEnumType.accepted, GetInstalledCertificateStatusEnumType.notFound)


@dataclass(frozen=True)
class InventoryRefresh:
    """How one GetInstalledCertificateIds went."""

    types: tuple[str, ...] | None   # None: all types were asked for (certificateType omitted)
    call_status: str                # answered | error | timeout | not_connected
    station_status: str | None      # Accepted | NotFound, when answered
    entries: int = 0                # rows stored from the answer, children included
    error_code: str | None = None
    description: str = ""
    sent: bool = False

    @property
    def updated(self) -> bool:
        return self.station_status in REPORTED


def _reported(data: dict[str, Any]) -> CertificateHashData:
    # Not CertificateHashData.from_ocpp: that one refuses what is not hex, and the inventory
    # keeps whatever the station said (the schema already bounded the lengths).
    return CertificateHashData(data["hashAlgorithm"], data["issuerNameHash"], data["issuerKeyHash"],
                               data["serialNumber"])


def check_types(types: Sequence[str] | None) -> tuple[str, ...] | None:
    if types is None:
        return None
    unknown = [t for t in types if t not in CERTIFICATE_ID_TYPES]
    if unknown or not types:
        raise Refusal("inventory.type", f"certificate types must be one or more of "
                                                 f"{', '.join(CERTIFICATE_ID_TYPES)}; got {', '.join(unknown) or 'none'}")
    return tuple(dict.fromkeys(types))


async def refresh_inventory(gateway: Gateway, actor: Actor, station_id: str, types: Sequence[str] | None = None,
                            timeout: float | None = None) -> InventoryRefresh:
    """GetInstalledCertificateIds for ``types`` (None: certificateType omitted, i.e. every type)
    and store the answer. Audited, with what the station answered."""
    asked = check_types(types)
    command = GetInstalledCertificateIds(
        certificate_type=None if asked is None else [GetCertificateIdUseEnumType(t) for t in asked])
    sent = await send_command(gateway, station_id, command, timeout)
    return await asyncio.to_thread(_record, gateway, actor, station_id, asked, sent)


def _record(gateway: Gateway, actor: Actor, station_id: str, asked: tuple[str, ...] | None,
            sent: Answer) -> InventoryRefresh:
    outcome = sent.outcome
    status = sent.result.status if sent.result is not None else None
    stored = [0]

    def store(session: Session) -> None:
        if status in REPORTED:
            stored[0] = store_report(session, station_id, asked, outcome.response)

    record_trust_anchor_result(
        gateway.ctx, actor, INVENTORY, station_id,
        {"types": list(asked) if asked else "all", "call_status": outcome.status, "status": status,
         **({"error_code": outcome.error_code} if outcome.error_code else {})}, store=store)
    return InventoryRefresh(asked, outcome.status, status, stored[0], outcome.error_code, outcome.description,
                            outcome.sent)


def store_report(session: Session, station_id: str, asked: tuple[str, ...] | None, response: dict[str, Any],
                 now: datetime | None = None) -> int:
    """Make the stored inventory of the asked-for types what ``response`` says; the number of
    entries it holds now. NotFound (M03.FR.02) empties those types."""
    now = now or utcnow()
    chains = response.get("certificateHashDataChain", []) if response.get("status") == "Accepted" else []
    scope = None if asked is None else set(asked) | {c["certificateType"] for c in chains}
    query = select(InstalledCertificate).where(InstalledCertificate.station_id == station_id)
    existing = [r for r in session.exec(query) if scope is None or r.certificate_type in scope]
    kept: dict[int, InstalledCertificate] = {}
    for chain in chains:
        parent = _keep(session, existing, kept, station_id, chain["certificateType"], chain["certificateHashData"],
                       None, now)
        for child in chain.get("childCertificateHashData", []):
            _keep(session, existing, kept, station_id, chain["certificateType"], child, parent.id, now)
    stale = [r for r in existing if r.id not in kept]
    for row in sorted(stale, key=lambda r: r.parent_id is None):  # children before their leaf
        session.delete(row)
        session.flush()
    station = session.get(Station, station_id)
    station.inventory_refreshed_at = now
    session.add(station)
    return len(kept)


def _keep(session: Session, existing: list[InstalledCertificate], kept: dict[int, InstalledCertificate],
          station_id: str, certificate_type: str, data: dict[str, Any], parent_id: int | None,
          now: datetime) -> InstalledCertificate:
    reported = _reported(data)
    # Reported twice in one answer, it is still one certificate: two rows would make every
    # delete of it ambiguous and count it twice against the station's capacity.
    twice = next((r for r in kept.values() if r.parent_id == parent_id and r.certificate_type == certificate_type
                  and reported_hash_data(r).matches(reported)), None)
    if twice is not None:
        return twice
    row = next((r for r in existing if r.id not in kept and r.parent_id == parent_id
                and r.certificate_type == certificate_type and reported_hash_data(r).matches(reported)), None)
    if row is None:
        row = InstalledCertificate(station_id=station_id, certificate_type=certificate_type, parent_id=parent_id)
    # Exactly as reported this time (case and serial rendering may differ from the last time).
    row.hash_algorithm, row.issuer_name_hash = reported.hash_algorithm, reported.issuer_name_hash
    row.issuer_key_hash, row.serial_number = reported.issuer_key_hash, reported.serial_number
    row.reported_at = now
    session.add(row)
    session.flush()
    kept[row.id] = row
    return row


# --- reading the stored inventory ---------------------------------------------------------------

@dataclass(frozen=True)
class InventoryEntry:
    row: InstalledCertificate
    anchor: KnownAnchor | None   # which of our CSMS roots (or cross certificates) it is, if any


@dataclass(frozen=True)
class StoredInventory:
    station_id: str
    refreshed_at: datetime | None   # None: never asked; the list is then unknown, not empty
    entries: list[InventoryEntry]
    capacity: int | None = None     # how many certificates it can store, when a report said


def stored_rows(session: Session, station_id: str, certificate_type: str | None = None) -> list[InstalledCertificate]:
    query = (select(InstalledCertificate).where(InstalledCertificate.station_id == station_id)
             .order_by(InstalledCertificate.id))
    return [r for r in session.exec(query) if certificate_type is None or r.certificate_type == certificate_type]


def stored_inventory(session: Session, station_id: str) -> StoredInventory:
    station = require_station(session, station_id)
    anchors = csms_anchors(session)
    entries = [InventoryEntry(row, identify_anchor(reported_hash_data(row), anchors) if row.parent_id is None else None)
               for row in stored_rows(session, station_id)]
    return StoredInventory(station_id, station.inventory_refreshed_at, entries, station.certificate_capacity)
