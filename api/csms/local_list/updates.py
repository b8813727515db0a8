"""Sending a station its local authorization list (D01) and reading its version (D02).

An update is planned from the token store (service.py), cut to the station's limits
(splitting.py) and sent message by message to the connected station; each accepted message is
stored as the station's list and version before the next leaves, so an update cut short leaves
the CSMS knowing exactly what the station holds.

The limits are LocalAuthListCtrlr.ItemsPerMessage and BytesPerMessage. ChargeCA keeps no
device model (api/csms/provisioning/device_report.py), so they are read with GetVariables before
each update (a firmware update may change them: read once and kept, a station that had once
reported a small size refused every later update) and kept per station. A station that does not
report them (absent, refused, no answer) gets what was kept, else ``FALLBACK_ITEMS`` entries and
``FALLBACK_BYTES`` bytes per message: small enough for any station that has a local list at all. A
dry run never asks the station: it plans with what is kept, or the fallback, and says which.

Outcomes: Accepted moves on; Failed stops (the station keeps its old list); VersionMismatch on a
differential update asks the station's version (GetLocalListVersion) and sends a full update
instead, numbered above both versions.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ocpp.v201.datatypes import AuthorizationData
from ocpp.v201.enums import SendLocalListStatusEnumType, UpdateEnumType
from sqlmodel import Session

from api.core.audit import Actor, record_failure, require_station, run_in_session
from api.core.context import Context
from api.core.refusal import Refusal
from api.csms.local_list import service
from api.csms.local_list.commands import GetLocalListVersion, SendLocalList
from api.csms.local_list.service import DIFFERENTIAL, FULL
from api.csms.local_list.splitting import Message, split
from api.csms.provisioning.device_variables import read_variable
from api.ocpp.command import from_payload, send_command
from api.ocpp.gateway import Gateway
from storage import audit
from storage.types import INT32_MAX

T = TypeVar("T")
_updating: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

CONTROLLER = "LocalAuthListCtrlr"
FALLBACK_ITEMS, FALLBACK_BYTES = 20, 4096
ACCEPTED = SendLocalListStatusEnumType.accepted.value
VERSION_MISMATCH = SendLocalListStatusEnumType.version_mismatch.value


@dataclass(frozen=True)
class Limits:
    items: int
    bytes: int
    source: str   # "station" (read now or kept) or "fallback"


@dataclass
class UpdateResult:
    station_id: str
    requested: str
    dry_run: bool
    limits: Limits
    outcome: str = "nothing to send"   # Accepted, Failed, VersionMismatch, or how the call ended
    version: int | None = None         # the station's list version when the update ended
    messages: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"station_id": self.station_id, "requested": self.requested, "dry_run": self.dry_run,
                "limits": {"items_per_message": self.limits.items, "bytes_per_message": self.limits.bytes,
                           "source": self.limits.source},
                "outcome": self.outcome, "version": self.version, "messages": self.messages}


async def _db(ctx: Context, work: Callable[[Session], T]) -> T:
    return await asyncio.to_thread(run_in_session, ctx, work)


def _count(value: str | None) -> int | None:
    try:
        number = int(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and 0 < number <= INT32_MAX else None


async def _limits(ctx: Context, gateway: Gateway, station_id: str, *, ask: bool) -> Limits:
    kept = await _db(ctx, lambda s: service.state(s, station_id))
    items = size = None
    if ask:
        items = _count((await read_variable(gateway, station_id, CONTROLLER, "ItemsPerMessage")).value)
        size = _count((await read_variable(gateway, station_id, CONTROLLER, "BytesPerMessage")).value)
        if items and size:
            if (items, size) != (kept.items_per_message, kept.bytes_per_message):
                await _db(ctx, lambda s: service.record_limits(s, station_id, items, size))
            return Limits(items, size, "station")
    if kept.items_per_message and kept.bytes_per_message:
        return Limits(kept.items_per_message, kept.bytes_per_message, "station")
    return Limits(items or FALLBACK_ITEMS, size or FALLBACK_BYTES, "fallback")


def _plan(session: Session, station_id: str, update_type: str, limits: Limits) -> list[Message]:
    entries = service.planned_entries(session, station_id, update_type)
    return split(update_type, service.next_version(session, station_id, update_type), entries,
                 items=limits.items, size=limits.bytes)


def _shown(message: Message, status: str | None) -> dict[str, Any]:
    return {"update_type": message.update_type, "version": message.version, "entries": len(message.entries),
            "payload": message.payload(), "status": status}


async def send_local_list(ctx: Context, gateway: Gateway, actor: Actor, station_id: str, mode: str, *,
                          dry_run: bool = False, timeout: float | None = None) -> UpdateResult:
    """Bring the station's local list up to date with the token store (``mode`` Full or Differential)."""
    update_type = UpdateEnumType(mode).value
    if dry_run:   # changes nothing, so audits nothing
        await _db(ctx, lambda s: require_station(s, station_id))
    else:
        await _reachable(ctx, gateway, actor, "local_list.send", station_id, {"requested": update_type})
    limits = await _limits(ctx, gateway, station_id, ask=not dry_run)
    result = UpdateResult(station_id, update_type, dry_run, limits)
    if dry_run:
        messages = await _db(ctx, lambda s: _plan(s, station_id, update_type, limits))
        result.messages = [_shown(message, None) for message in messages]
        return result
    error: Exception | None = None
    # Two updates planned from the same kept state would send the same versions: one at a time
    # per station (in this process, the one holding the station's connection).
    lock = _updating.setdefault(station_id, asyncio.Lock())
    try:
        async with lock:
            messages = await _db(ctx, lambda s: _plan(s, station_id, update_type, limits))
            await _send(ctx, gateway, station_id, messages, result, timeout)
            if result.outcome == VERSION_MISMATCH and update_type == DIFFERENTIAL:
                await read_version(ctx, gateway, station_id, timeout)
                messages = await _db(ctx, lambda s: _plan(s, station_id, FULL, limits))
                await _send(ctx, gateway, station_id, messages, result, timeout)
    except Exception as exc:
        error = exc
        raise
    finally:
        await _db(ctx, lambda s: _audit(s, actor, result, error))
    return result


async def _send(ctx: Context, gateway: Gateway, station_id: str, messages: list[Message], result: UpdateResult,
                timeout: float | None) -> None:
    for message in messages:
        command = SendLocalList(version_number=message.version, update_type=UpdateEnumType(message.update_type),
                                local_authorization_list=[from_payload(AuthorizationData, entry.payload())
                                                          for entry in message.entries] or None)
        answer = await send_command(gateway, station_id, command, timeout)
        status = answer.result.status if answer.result is not None else answer.outcome.status
        status = getattr(status, "value", status)
        result.messages.append(_shown(message, status))
        result.outcome = status

        def record(session: Session, message: Message = message, status: str = status) -> int:
            if status == ACCEPTED:
                service.record_accepted(session, station_id, message.update_type, message.version,
                                        list(message.entries))
            service.record_outcome(session, station_id, message.update_type, status)
            return service.state(session, station_id).version

        result.version = await _db(ctx, record)
        if status != ACCEPTED:
            return


def _audit(session: Session, actor: Actor, result: UpdateResult, error: Exception | None) -> None:
    if isinstance(error, Refusal):
        outcome = audit.Outcome.REFUSED
    elif error is None and result.outcome in (ACCEPTED, "nothing to send"):
        outcome = audit.Outcome.SUCCESS
    else:
        outcome = audit.Outcome.FAILED
    audit.append(session, actor=actor.name, action="local_list.send", target=result.station_id, outcome=outcome,
                 detail={**({"error": str(error)[:500]} if error else {}), "requested": result.requested,
                         "outcome": result.outcome, "version": result.version,
                         "messages": [{k: m[k] for k in ("update_type", "version", "entries", "status")}
                                      for m in result.messages],
                         "limits": result.as_json()["limits"]})


async def read_version(ctx: Context, gateway: Gateway, station_id: str, timeout: float | None = None) -> int | None:
    """D02: the station's list version (0: it holds no list), stored; None when it did not answer."""
    answer = await send_command(gateway, station_id, GetLocalListVersion(), timeout)
    if answer.result is None:
        return None
    version = answer.result.version_number
    await _db(ctx, lambda s: service.record_reported_version(s, station_id, version))
    return version


async def ask_version(ctx: Context, gateway: Gateway, actor: Actor, station_id: str,
                      timeout: float | None = None) -> int | None:
    """An operator's GetLocalListVersion: read, stored, audited."""
    await _reachable(ctx, gateway, actor, "local_list.version", station_id, {})
    version = await read_version(ctx, gateway, station_id, timeout)
    await _db(ctx, lambda s: audit.append(
        s, actor=actor.name, action="local_list.version", target=station_id,
        outcome=audit.Outcome.SUCCESS if version is not None else audit.Outcome.FAILED,
        detail={"reported_version": version}))
    return version


async def _reachable(ctx: Context, gateway: Gateway, actor: Actor, action: str, station_id: str,
                     detail: dict[str, Any]) -> None:
    """The station is registered and connected here; if not, the attempt is audited as refused
    (every refused attempt is an entry, as an operator's call refused for the same is)."""
    try:
        await _db(ctx, lambda s: require_station(s, station_id))
        gateway.require_reachable(station_id)
    except Refusal as refused:
        await asyncio.to_thread(record_failure, ctx, actor, action, station_id, detail, refused)
        raise


def local_list_view(ctx: Context, station_id: str) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        require_station(session, station_id)
        return service.view(session, station_id)
    return run_in_session(ctx, work)
