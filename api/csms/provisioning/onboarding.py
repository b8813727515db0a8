"""Onboarding, as a policy ([onboarding]): a station's first BootNotification is answered Pending
(B02); while it waits, ChargeCA asks for its FullInventory (B07), sets the baseline variables
within the limits the station reported (B05), and lets it in with Accepted from the next boot,
which it asks for with TriggerMessage BootNotification (B02.FR.06 lets a Pending station be
triggered). Off by default: stations are then answered by their boot policy from the first boot.

State per station (``station_onboarding``): pending → reporting → configuring → done, or failed
with why (the station then stays Pending; its next connection starts onboarding again). Every
call goes through the operator's path (api/csms/operator_calls.py) as ``system:onboarding``:
the same rule checks, value checks, splitting and audit as a person's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from sqlalchemy import update
from sqlmodel import Session

from api.core.audit import Actor, run_in_session
from api.core.refusal import Refusal
from api.csms.call_rules import OPERATOR
from api.csms.ids import draw_id
from api.csms.provisioning import device_model
from api.csms.provisioning.device_model import VariableId
from api.csms.report_streams import json_within
from api.ocpp.boot import PENDING
from api.ocpp.gateway import Gateway
from api.ocpp.session import ANSWERED, OcppSession
from policies.model import OnboardingPolicy
from policies.provisioning import READ_ONLY, baseline, baseline_value
from storage.device_model import (
    COMPLETE,
    INCOMPLETE,
    ONBOARDING_CONFIGURING,
    ONBOARDING_DONE,
    ONBOARDING_FAILED,
    ONBOARDING_REPORTING,
    REFUSED,
    TRUNCATED,
    StationOnboarding,
)
from storage.stations import Station
from storage.types import utcnow

log = logging.getLogger("chargeca.ocpp.onboarding")

ACTOR = Actor("system:onboarding", OPERATOR)
_REPORT_ENDED = (COMPLETE, INCOMPLETE, TRUNCATED, REFUSED)
_POLL_SECONDS = 0.1
_DETAIL_MAX = 4000   # station_onboarding.detail


def holds_back(policy: OnboardingPolicy, state: str | None) -> bool:
    """Whether a station the boot policy would accept must wait (Pending) for its onboarding."""
    return policy.enabled and state != ONBOARDING_DONE


def hold(session: Session, station_id: str, state: str | None) -> None:
    """In the boot's transaction: the station is Pending for its onboarding."""
    if state is None:
        session.add(StationOnboarding(station_id=station_id))
    # last_boot_at says "was accepted": a reconnect without a new boot must not skip onboarding.
    session.execute(update(Station).where(Station.id == station_id).values(last_boot_at=None),
                    execution_options={"synchronize_session": False})


def _mark(ctx: Any, station_id: str, state: str, **values: Any) -> None:
    def work(session: Session) -> None:
        session.execute(update(StationOnboarding).where(StationOnboarding.station_id == station_id)
                        .values(state=state, updated_at=utcnow(), **values))
    run_in_session(ctx, work)


class Onboarding:
    """Runs a Pending station's onboarding once it may receive calls (gateway ready hook)."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._ctx = gateway.ctx
        self._running: set[str] = set()

    def attach(self) -> Onboarding:
        self._gateway.on_ready(self._ready)
        return self

    async def _ready(self, session: OcppSession) -> None:
        policy = self._ctx.policy.onboarding
        station_id = session.station_id
        if not policy.enabled or session.boot.status != PENDING or station_id in self._running:
            return
        row = await asyncio.to_thread(run_in_session, self._ctx, lambda s: s.get(StationOnboarding, station_id))
        if row is None or row.state == ONBOARDING_DONE:
            return
        self._running.add(station_id)
        try:
            await self.run(station_id, policy)
        except Exception as exc:  # noqa: BLE001 - recorded; the station stays Pending
            log.exception("onboarding of %s failed", station_id)
            await asyncio.to_thread(_mark, self._ctx, station_id, ONBOARDING_FAILED,
                                    detail=_detail_json({"error": str(exc)}))
        finally:
            self._running.discard(station_id)

    async def run(self, station_id: str, policy: OnboardingPolicy) -> str:
        """The whole onboarding of one connected Pending station; its final state."""
        from api.csms.operator_calls import call_now  # operator_calls imports this block's commands

        request_id = draw_id()
        await asyncio.to_thread(_mark, self._ctx, station_id, ONBOARDING_REPORTING, report_request_id=request_id)
        outcome = await call_now(self._gateway, ACTOR, station_id, "GetBaseReport",
                                 {"requestId": request_id, "reportBase": "FullInventory"})
        if outcome.status != ANSWERED or (outcome.response or {}).get("status") != "Accepted":
            return await self._fail(station_id, f"GetBaseReport FullInventory: {outcome.status} "
                                                f"{(outcome.response or {}).get('status', outcome.description)}")
        report = await self._report_end(station_id, request_id, policy.report_timeout_seconds)
        if report is None:
            return await self._fail(station_id, f"the FullInventory did not end within "
                                                f"{policy.report_timeout_seconds} s")
        await asyncio.to_thread(_mark, self._ctx, station_id, ONBOARDING_CONFIGURING)
        entries, detail = await asyncio.to_thread(run_in_session, self._ctx,
                                                  lambda s: _baseline_entries(s, station_id, policy))
        detail["report"] = report
        if entries:
            try:
                written = await call_now(self._gateway, ACTOR, station_id, "SetVariables",
                                         {"setVariableData": entries})
            except Refusal as refusal:
                return await self._fail(station_id, f"{refusal.rule}: {refusal.reason}", detail)
            if written.status != ANSWERED:
                return await self._fail(station_id, f"SetVariables: {written.status} {written.description}", detail)
            for result in (written.response or {}).get("setVariableResult", []):
                name = VariableId.of(result["component"], result["variable"]).name
                # A station may answer about variables it was not asked to write: not ours to record.
                if name in detail["variables"]:
                    detail["variables"][name]["status"] = result["attributeStatus"]
        await asyncio.to_thread(_mark, self._ctx, station_id, ONBOARDING_DONE, detail=_detail_json(detail))
        log.info("onboarding of %s done; asking it to boot again", station_id)
        await call_now(self._gateway, ACTOR, station_id, "TriggerMessage", {"requestedMessage": "BootNotification"})
        return ONBOARDING_DONE

    async def _fail(self, station_id: str, why: str, detail: dict[str, Any] | None = None) -> str:
        log.warning("onboarding of %s failed: %r", station_id, why)   # %r: it quotes the station's own words
        await asyncio.to_thread(_mark, self._ctx, station_id, ONBOARDING_FAILED,
                                detail=_detail_json({**(detail or {}), "error": why}))
        return ONBOARDING_FAILED

    async def _report_end(self, station_id: str, request_id: int, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            report = await asyncio.to_thread(run_in_session, self._ctx,
                                             lambda s: device_model.report(s, station_id, request_id))
            if report is not None and report.status in _REPORT_ENDED:
                return report.status
            await asyncio.sleep(_POLL_SECONDS)
        return None


def _detail_json(detail: dict[str, Any]) -> str:
    """The detail as JSON within its column, read back whole (GET …/onboarding): a cut text is
    no JSON. What does not fit goes, the per-variable detail first; the error and the report's
    status stay."""
    text = json.dumps(detail)
    if len(text) <= _DETAIL_MAX:
        return text
    shorter = {**detail, "error": detail["error"][:1000]} if "error" in detail else dict(detail)
    if "variables" in shorter:
        shorter["variables"] = {"omitted": f"{len(detail['variables'])} variables"}
    return json_within(shorter, _DETAIL_MAX)


def _baseline_entries(session: Session, station_id: str,
                      policy: OnboardingPolicy) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The SetVariables entries of the baseline, as this station can take them, and what became
    of each (not reported or ReadOnly: left alone)."""
    wanted = [(entry, VariableId(entry.component, entry.variable)) for entry in baseline(policy.baseline)]
    known = device_model.characteristics(session, station_id, [(ident, "Actual") for _, ident in wanted])
    entries, detail = [], {"variables": {}}
    for entry, ident in wanted:
        reported = known.get((ident.key, "Actual"))
        if reported is None:
            detail["variables"][ident.name] = {"status": "skipped", "why": "not in the station's inventory"}
            continue
        if reported.mutability == READ_ONLY:
            detail["variables"][ident.name] = {"status": "skipped", "why": "ReadOnly on this station"}
            continue
        value = baseline_value(entry, reported)
        detail["variables"][ident.name] = {"value": value, "configured": entry.value}
        entries.append({"component": {"name": entry.component}, "variable": {"name": entry.variable},
                        "attributeValue": value})
    return entries, detail

