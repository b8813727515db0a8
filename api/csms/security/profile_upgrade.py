"""A05 — upgrade a station's security profile without locking it out.

Order (ERR2501 §2.4): prerequisites first (a CSMS root of ours installed for profiles 2 and 3, a
valid station certificate for 3, a Basic-auth password for 2); then SetNetworkProfile into a free
configuration slot, SetVariables NetworkConfigurationPriority with the new slot first, and Reset.
The higher profile is accepted from the moment the station took the new network profile, and the
lower one is refused from its first connection under the higher one (admission, A05.FR.07).
Any step the station refuses stops the upgrade before the next, and nothing is armed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ocpp.v201.datatypes import ComponentType, NetworkConnectionProfileType, SetVariableDataType, VariableType
from ocpp.v201.enums import (
    InstallCertificateUseEnumType,
    OCPPInterfaceEnumType,
    OCPPTransportEnumType,
    OCPPVersionEnumType,
    ResetEnumType,
)
from sqlmodel import Session, select

from api.core.audit import Actor, run_in_session
from api.core.refusal import Refusal
from api.csms.provisioning.commands import Reset, SetNetworkProfile, SetVariables
from api.csms.provisioning.device_variables import read_variable
from api.csms.security.installed_certificates import refresh_inventory, stored_rows
from api.csms.security.service import arm_profile_upgrade, begin_profile_upgrade
from api.ocpp.command import Answer, send_command
from api.ocpp.gateway import Gateway
from pki.authorities import trusted_authorities
from pki.delivery import csms_anchors, identify_anchor, reported_hash_data, served_generations
from storage.certificates import CaRole, CertKind, CertStatus, IssuedCertificate
from storage.stations import Station
from storage.types import utcnow

CSMS_ROOT = InstallCertificateUseEnumType.csms_root_certificate


@dataclass(frozen=True)
class UpgradeRequest:
    target: int | None = None            # default: one above the current profile
    csms_url: str | None = None          # default: our wss endpoint
    ocpp_interface: str = "Wired0"
    message_timeout: int = 30
    reset: str = "OnIdle"


@dataclass
class UpgradeResult:
    target: int
    slot: int | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    armed: bool = False                  # the higher profile is now accepted

    def step(self, name: str, status: str, **details: Any) -> bool:
        self.steps.append({"step": name, "status": status, **details})
        return status in ("Accepted", "RebootRequired", "Scheduled")


def _has_our_root(session: Session, station_id: str) -> bool:
    anchors = csms_anchors(session)
    generations = served_generations(session)
    for row in stored_rows(session, station_id, CSMS_ROOT):
        anchor = identify_anchor(reported_hash_data(row), anchors)
        if anchor is not None and anchor.generation in generations:
            return True
    return False


def _has_station_certificate(session: Session, station_id: str) -> bool:
    trusted = {authority.id for authority in trusted_authorities(session, CaRole.STATION)}
    now = utcnow()
    rows = session.exec(select(IssuedCertificate).where(
        IssuedCertificate.station_id == station_id, IssuedCertificate.kind == CertKind.STATION,
        IssuedCertificate.status.in_([CertStatus.ISSUED, CertStatus.ACTIVE]),
        IssuedCertificate.not_after > now))
    return any(row.issuer_id in trusted for row in rows)


def _prerequisites(target: int):
    def check(session: Session, station: Station) -> None:
        if target >= 2 and not _has_our_root(session, station.id):
            raise Refusal("upgrade.no_csms_root",
                                   "the station does not report our CSMS root (the one anchoring the server "
                                   "certificate we serve): install it first")
        if target == 2 and station.password_hash is None:
            raise Refusal("upgrade.no_password", "profile 2 needs a Basic-auth password for the station")
        if target == 3 and not _has_station_certificate(session, station.id):
            raise Refusal("upgrade.no_station_certificate",
                                   "profile 3 needs a valid station certificate from us: renew it first")
    return check


def free_slot(priority: str | None) -> tuple[int, list[str]]:
    """The lowest configuration slot not in NetworkConfigurationPriority, and the list itself."""
    used = [item.strip() for item in (priority or "").split(",") if item.strip()]
    taken = {int(item) for item in used if item.isdigit()}
    return next(slot for slot in range(1, 100) if slot not in taken), used


async def upgrade_security_profile(gateway: Gateway, actor: Actor, station_id: str,
                                   request: UpgradeRequest) -> UpgradeResult:
    gateway.require_reachable(station_id)
    ctx = gateway.ctx
    station = await asyncio.to_thread(run_in_session, ctx, lambda s: s.get(Station, station_id))
    target = request.target or (station.security_profile + 1 if station else 0)
    if target >= 2:
        # The inventory must be current: the check below must not pass on a root deleted since.
        await refresh_inventory(gateway, actor, station_id, [CSMS_ROOT])
    await asyncio.to_thread(begin_profile_upgrade, ctx, actor, station_id, target, _prerequisites(target))
    result = UpgradeResult(target)

    priority = await read_variable(gateway, station_id, "OCPPCommCtrlr", "NetworkConfigurationPriority")
    if not priority.answered or priority.status != "Accepted":
        result.step("GetVariables NetworkConfigurationPriority", priority.status)
        return result
    result.slot, used = free_slot(priority.value)
    csms_url = request.csms_url or f"wss://{ctx.settings.fqdn}:{ctx.settings.ocpp_wss_port}/ocpp"
    sent = await send_command(gateway, station_id, SetNetworkProfile(
        configuration_slot=result.slot, connection_data=NetworkConnectionProfileType(
            ocpp_version=OCPPVersionEnumType.ocpp20, ocpp_transport=OCPPTransportEnumType.json,
            ocpp_csms_url=csms_url, message_timeout=request.message_timeout, security_profile=target,
            ocpp_interface=OCPPInterfaceEnumType(request.ocpp_interface))))
    if not result.step("SetNetworkProfile", _status(sent), slot=result.slot):
        return result
    sent = await send_command(gateway, station_id, SetVariables(set_variable_data=[SetVariableDataType(
        attribute_value=",".join([str(result.slot), *used]), component=ComponentType(name="OCPPCommCtrlr"),
        variable=VariableType(name="NetworkConfigurationPriority"))]))
    attribute = sent.result.set_variable_result[0].attribute_status if sent.result else sent.outcome.status
    if not result.step("SetVariables NetworkConfigurationPriority", attribute):
        return result
    await asyncio.to_thread(arm_profile_upgrade, ctx, actor, station_id, target)
    result.armed = True
    sent = await send_command(gateway, station_id, Reset(type=ResetEnumType(request.reset)))
    result.step("Reset", _status(sent))
    return result


def _status(sent: Answer) -> str:
    return sent.result.status if sent.result is not None else sent.outcome.status
