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

from api.core.audit import Actor, record_failure, run_in_session
from api.core.context import Context
from api.core.refusal import Conflict, Refusal, RoleRequired
from api.csms.call_rules import OFFICER, check_network_profile
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


def _prerequisites(target: int, csms_url: str):
    def check(session: Session, station: Station) -> None:
        # The rule the generic SetNetworkProfile meets: a ws:// URL under profile 2 or 3 would
        # send the station's password in clear, or leave it unable to connect at all.
        decision = check_network_profile({"connectionData": {"securityProfile": target, "ocppCsmsUrl": csms_url}},
                                         station.security_profile)
        if not decision:
            raise Refusal(decision.rule, decision.reason)
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


SLOTS = range(1, 100)
PRIORITY_VALUE_MAX = 1000   # SetVariableData.attributeValue


class UnusablePriority(ValueError):
    """The station's NetworkConfigurationPriority leaves no way to put a new slot first."""


def free_slot(priority: str | None) -> tuple[int, list[str]]:
    """The lowest configuration slot not in NetworkConfigurationPriority, and the list itself.

    The value comes from the station: anything but a list of slot numbers (str.isdigit also
    takes '²', which int() refuses), a list with no slot free, or one too long to send back
    with the new slot first is refused here rather than failing the request half-way through."""
    used = [item.strip() for item in (priority or "").split(",") if item.strip()]
    odd = next((item for item in used if not (item.isascii() and item.isdigit())), None)
    if odd is not None:
        raise UnusablePriority(f"the station reported {priority[:100]!r}: {odd[:20]!r} is no configuration slot")
    taken = {int(item) for item in used}
    slot = next((slot for slot in SLOTS if slot not in taken), None)
    if slot is None:
        raise UnusablePriority(f"the station's configuration slots {SLOTS.start} to {SLOTS.stop - 1} are all in "
                               "NetworkConfigurationPriority: free one first")
    if len(",".join([str(slot), *used])) > PRIORITY_VALUE_MAX:
        raise UnusablePriority(f"NetworkConfigurationPriority with slot {slot} first would exceed the "
                               f"{PRIORITY_VALUE_MAX} characters SetVariables can carry")
    return slot, used


# Stations being upgraded by this process. Two upgrades of one station at once would each pick
# the slot free when they read the priority list and overwrite each other's slot and pending
# profile: both answered "armed", while the station reboots into whichever came last. Per process,
# not a cluster-wide lock: that would hold a database connection for each upgrade's whole
# exchange with its station, and a fleet upgraded in parallel would take the pool from stations.
_upgrading: set[str] = set()


def own_url(ctx: Context) -> str:
    """Where this CSMS's stations connect on profiles 2 and 3: an upgrade's default csms_url."""
    return f"wss://{ctx.settings.fqdn}:{ctx.settings.ocpp_wss_port}/ocpp"


def _role_for(actor: Actor, csms_url: str, own: str) -> None:
    # Another CSMS's address sends the station elsewhere: what the generic SetNetworkProfile
    # keeps for officers, this door does too; our own address, any role that may upgrade.
    if csms_url != own and actor.role != OFFICER:
        raise RoleRequired("upgrade.csms_url", f"a csms_url other than this CSMS's ({own}) sends the "
                                               f"station to another server and needs the role {OFFICER}; "
                                               f"{actor.name} has the role {actor.role}", [OFFICER])


async def upgrade_security_profile(gateway: Gateway, actor: Actor, station_id: str,
                                   request: UpgradeRequest) -> UpgradeResult:
    ctx = gateway.ctx
    own = own_url(ctx)
    csms_url = request.csms_url or own
    # The role first, as the generic call decides it: before the station's state (connected or
    # not) and before anything is sent to it (the inventory refresh), refused and audited.
    try:
        _role_for(actor, csms_url, own)
    except RoleRequired as refused:
        raise await _audited(ctx, actor, station_id, request, refused) from None
    gateway.require_reachable(station_id)
    if station_id in _upgrading:
        raise await _audited(ctx, actor, station_id, request, Conflict(
            "upgrade.busy", f"station {station_id!r} is being upgraded already; wait for that upgrade's answer"))
    _upgrading.add(station_id)
    try:
        return await _upgrade(gateway, actor, station_id, request, csms_url)
    finally:
        _upgrading.discard(station_id)


async def _audited(ctx: Context, actor: Actor, station_id: str, request: UpgradeRequest,
                   refused: Refusal) -> Refusal:
    """``refused``, audited as begin_profile_upgrade audits its own refusals."""
    await asyncio.to_thread(record_failure, ctx, actor, "station.profile.upgrade", station_id,
                            {"target": request.target}, refused)
    return refused


async def _upgrade(gateway: Gateway, actor: Actor, station_id: str, request: UpgradeRequest,
                   csms_url: str) -> UpgradeResult:
    ctx = gateway.ctx
    station = await asyncio.to_thread(run_in_session, ctx, lambda s: s.get(Station, station_id))
    target = request.target or (station.security_profile + 1 if station else 0)
    if target >= 2:
        # The inventory must be current: the check below must not pass on a root deleted since.
        await refresh_inventory(gateway, actor, station_id, [CSMS_ROOT])
    await asyncio.to_thread(begin_profile_upgrade, ctx, actor, station_id, target, _prerequisites(target, csms_url))
    result = UpgradeResult(target)

    priority = await read_variable(gateway, station_id, "OCPPCommCtrlr", "NetworkConfigurationPriority")
    if not priority.answered or priority.status != "Accepted":
        result.step("GetVariables NetworkConfigurationPriority", priority.status)
        return result
    try:
        result.slot, used = free_slot(priority.value)
    except UnusablePriority as exc:
        result.step("GetVariables NetworkConfigurationPriority", "Unusable", rule="upgrade.priority", detail=str(exc))
        return result
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
