"""CSMS root rollover, pass by pass, never locking a station out.

Phases, each resumable from what the database and the stations' inventories say:

1. stage      root G(n+1) and its sub-CAs exist, inactive (begin=true starts a rollover);
2. install    every station holds G(n+1)'s root (cross-signed for AdditionalRootCertificateCheck
              stations), seen in its refreshed inventory;
3. switch     only when all stations hold it: G(n+1) issues, the CSMS serves its server
              certificates, the wss listener reloads (open connections stay);
4. reissue    each station renews its certificate under G(n+1) and reconnects with it;
5. delete     per station, once proven on G(n+1) (root_steps.proofs): the older roots go;
6. retire     only when no station depends on G(n) any more (or forced, with a reason).

A station offline in a phase stays pending and a later pass picks it up; a global step waits for
the stations it depends on. ``switch`` waits for every station because a station that missed
the new root could not verify the new server certificate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from api.core.audit import Actor, record_failure, run_in_session
from api.core.context import Context
from api.core.refusal import Refusal
from api.csms.security.authority_service import (
    RETIRE_ACTION,
    activate_generation,
    retire_generation,
    stage_generation,
)
from api.ocpp.gateway import Gateway
from api.ocpp.transport.listener import Listeners
from api.rotation.report import ALREADY, DONE, PENDING, PLANNED, Progress, Report, RotationRefused
from api.rotation.root_steps import DeleteOldRootStep, InstallRootStep, delete_plans, install_plans
from api.rotation.runner import PLAN_DONE, Deadline, run_steps
from api.rotation.server_certificate import reload_listeners
from api.rotation.station_certificates import RenewalStep, in_flight_window, renewal_plans
from pki.rollover import GenerationStatus, rollover_status, stations_on_generation
from storage.certificates import CaRole, CertificateAuthority, IssuedCertificate
from storage.stations import Station

ROTATION = "csms-root"
STAGE, INSTALL, SWITCH, REISSUE, DELETE, RETIRE, COMPLETE, IDLE = (
    "stage", "install", "switch", "reissue", "delete", "retire", "done", "idle")
FINISHED = (DONE, ALREADY)


@dataclass(frozen=True)
class Position:
    """Where the rollover stands, from the generations' states."""

    old: int | None          # the generation being replaced
    new: int | None          # the generation rolled to
    activated: bool          # ``new`` issues
    switched: bool           # the CSMS serves ``new``'s server certificates, and no older ones
    generations: tuple[GenerationStatus, ...]

    @property
    def idle(self) -> bool:
        return self.new is None


def locate(session: Session) -> Position:
    status = rollover_status(session)
    serving = {g.generation for g in status.generations if g.serves_server_certificates}
    if status.staged is not None:
        return Position(status.active, status.staged, False, False, status.generations)
    if status.trusted:
        new = status.active
        return Position(max(status.trusted), new, True, serving == {new}, status.generations)
    return Position(status.active, None, True, True, status.generations)


def in_scope(session: Session) -> list[str]:
    """Stations the rollover covers: enabled ones on TLS (profile 2 or 3, or being upgraded to
    it). Profile-1 stations verify no server certificate; a disabled station cannot connect (if
    it still holds an old certificate, retirement reports it)."""
    rows = session.exec(select(Station.id, Station.security_profile, Station.pending_security_profile).where(
        Station.enabled == True).order_by(Station.id))  # noqa: E712
    return [sid for sid, profile, pending in rows if profile >= 2 or (pending or 0) >= 2]


def _station_cas_before(session: Session, new: int) -> set[str]:
    return set(session.exec(select(CertificateAuthority.id).where(
        CertificateAuthority.role == CaRole.STATION, CertificateAuthority.generation < new)).all())


def _reissue_filter(old_station_cas: set[str]) -> Callable[[IssuedCertificate, Any], bool]:
    return lambda record, _now: record.issuer_id in old_station_cas


def _finished(records: list[Progress], step: str, stations: list[str]) -> list[str]:
    """Stations whose ``step`` did not end done in ``records``."""
    ok = {r.station for r in records if r.step == step and r.outcome in FINISHED}
    return [sid for sid in stations if sid not in ok]


def _names(stations: list[str], shown: int = 10) -> str:
    more = f" and {len(stations) - shown} more" if len(stations) > shown else ""
    return ", ".join(stations[:shown]) + more


@dataclass
class _Pass:
    gateway: Gateway
    actor: Actor
    listeners: Listeners | None
    report: Report
    deadline: Deadline
    concurrency: int

    @property
    def ctx(self) -> Context:
        return self.gateway.ctx

    async def read(self, work):
        return await asyncio.to_thread(run_in_session, self.ctx, work)

    async def stations(self, steps, station_ids: list[str]) -> list[Progress]:
        records = await run_steps(self.ctx, steps, station_ids, connected=self.gateway.reachable,
                                  deadline=self.deadline, dry_run=self.report.dry_run, concurrency=self.concurrency)
        self.report.extend(records)
        return records

    def add(self, step: str, outcome: str, detail: str) -> None:
        self.report.add(Progress(None, step, outcome, detail))


async def rotate_csms_root(gateway: Gateway, actor: Actor, listeners: Listeners | None, *, begin: bool = False,
                           dry_run: bool = False, force_retire: bool = False, reason: str | None = None,
                           max_seconds: float = 60.0, concurrency: int = 10) -> Report:
    """One pass of the rollover: as far as the stations allow within ``max_seconds``."""
    if force_retire and not (reason and reason.strip()):
        refused = RotationRefused("rollover.force_reason", "force_retire needs a reason for the audit log")
        # A refused override is audited like the retirement it asked to force (as a refused
        # forced delete or install of a trust anchor is), though no pass ran.
        await asyncio.to_thread(record_failure, gateway.ctx, actor, RETIRE_ACTION, ROTATION, {"forced": True},
                                refused)
        raise refused
    report = Report(ROTATION, dry_run, parameters={"begin": begin, "force_retire": force_retire})
    run = _Pass(gateway, actor, listeners, report, Deadline(max_seconds), concurrency)
    try:
        return await _rollover(run, begin=begin, force_retire=force_retire, reason=reason)
    except Refusal as exc:
        raise RotationRefused(exc.rule, str(exc)) from None


async def _rollover(run: _Pass, *, begin: bool, force_retire: bool, reason: str | None) -> Report:
    report = run.report
    position = await run.read(locate)
    stations = await run.read(in_scope)
    if position.idle:
        if report.dry_run:
            return await _plan_from_idle(run, position, stations)
        if not begin:
            raise RotationRefused("rollover.not_started", "no CSMS root rollover is in progress; begin one with "
                                                          "begin=true (rotate_csms_root.py --begin)")
        staged = await asyncio.to_thread(stage_generation, run.ctx, run.actor)
        run.add(STAGE, DONE, f"staged generation {staged.generation}: "
                             + ", ".join(f"{a.record.role} CA {a.id}" for a in staged.authorities))
        position = await run.read(locate)
    else:
        run.add(STAGE, ALREADY, f"generation {position.new} replaces generation {position.old}")
    report.parameters.update(old_generation=position.old, new_generation=position.new)
    new, old = position.new, position.old

    # 2. install, then 3. switch: only once every station holds the new root.
    install = InstallRootStep(run.gateway, run.actor, new)
    if not position.activated:
        records = await run.stations([install], stations)
        missing = _finished(records, install.name, stations)
        if report.dry_run:
            return await _plan_after_install(run, new, old, stations)
        if missing:
            run.add(SWITCH, PENDING, f"waits until every station holds G{new}'s root; "
                                     f"{len(missing)} do not yet: {_names(missing)}")
            return report.finish(phase=INSTALL, complete=False)
        served = await asyncio.to_thread(activate_generation, run.ctx, run.actor, new)
        run.add(SWITCH, DONE, f"G{new} issues; serving server certificates "
                              + ", ".join(r.serial_hex for r in served))
        report.add(await reload_listeners(run.listeners))
    elif not position.switched:
        if report.dry_run:
            run.add(SWITCH, PLANNED, f"serve G{new}'s server certificates, reload TLS")
        else:
            served = await asyncio.to_thread(activate_generation, run.ctx, run.actor, new)
            run.add(SWITCH, DONE, "serving server certificates " + ", ".join(r.serial_hex for r in served))
        report.add(await reload_listeners(run.listeners, dry_run=report.dry_run))
    else:
        run.add(SWITCH, ALREADY, f"G{new} issues and its server certificates are served")
        report.add(await reload_listeners(run.listeners, dry_run=report.dry_run, only_if_changed=True))

    # 4. reissue and 5. delete, station by station.
    old_cas = await run.read(lambda s: _station_cas_before(s, new))
    renew = RenewalStep(run.gateway, run.actor, _reissue_filter(old_cas), f"issued before G{new}", name=REISSUE)
    # After the switch the install step still comes first for each station: one registered or
    # stripped of the new root since then gets it before anything else (it cannot connect to the
    # new server certificate without it, so it is most likely offline and pending).
    steps = [renew, DeleteOldRootStep(run.gateway, run.actor, new)]
    if position.activated:
        steps.insert(0, install)
    records = await run.stations(steps, stations)
    unfinished = _finished(records, DeleteOldRootStep.name, stations)

    # 6. retire.
    dependents = await run.read(lambda s: stations_on_generation(s, old))
    waiting_for = sorted(set(unfinished) | set(dependents))
    if report.dry_run:
        run.add(RETIRE, PLANNED, f"retire G{old} once no station depends on it"
                                 + (f" ({len(waiting_for)} still do: {_names(waiting_for)})" if waiting_for else ""))
        return report.finish(phase=REISSUE, complete=False)
    if waiting_for and not force_retire:
        run.add(RETIRE, PENDING, f"G{old} stays trusted while {len(waiting_for)} station(s) depend on it: "
                                 f"{_names(waiting_for)}")
        return report.finish(phase=REISSUE if dependents else DELETE, complete=False)
    await asyncio.to_thread(retire_generation, run.ctx, run.actor, old, force=force_retire, reason=reason)
    forced = f", forced past {len(waiting_for)} station(s) ({_names(waiting_for)}): {reason}" if waiting_for else ""
    run.add(RETIRE, DONE, f"G{old} retired{forced}")
    report.add(await reload_listeners(run.listeners))
    # Forced or not, the rollover is over: stations still on G{old} are in the report.
    return report.finish(phase=COMPLETE, complete=True)


async def _plan_from_idle(run: _Pass, position: Position, stations: list[str]) -> Report:
    new = position.old + 1
    run.add(STAGE, PLANNED, f"stage generation {new} (root and sub-CAs, inactive)")
    await run.stations([InstallRootStep(run.gateway, run.actor, new)], stations)
    return await _plan_after_install(run, new, position.old, stations)


async def _plan_after_install(run: _Pass, new: int, old: int, stations: list[str]) -> Report:
    run.add(SWITCH, PLANNED, f"once every station holds G{new}'s root: activate G{new}, serve its server "
                             "certificates, reload TLS")
    run.add(REISSUE, PLANNED, f"then renew every station certificate of G{old} under G{new}")
    run.add(DELETE, PLANNED, f"then, per station proven on G{new}, delete the older roots")
    run.add(RETIRE, PLANNED, f"then retire G{old}")
    return run.report.finish(phase=INSTALL, complete=False)


# --- status ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StationPhase:
    station: str
    phase: str               # install | reissue | delete | done
    detail: str


@dataclass(frozen=True)
class RolloverView:
    generations: tuple[GenerationStatus, ...]
    old: int | None
    new: int | None
    phase: str
    stations: list[StationPhase]


def rollover_view(ctx: Context, session: Session) -> RolloverView:
    """Read-only: the generations, and for each station in scope the first phase it still needs."""
    position = locate(session)
    if position.idle:
        return RolloverView(position.generations, None, None, IDLE, [])
    stations = in_scope(session)
    new = position.new
    old_cas = _station_cas_before(session, new)
    plans = [(INSTALL, install_plans(session, stations, new)),
             (REISSUE, renewal_plans(session, stations, _reissue_filter(old_cas), f"issued before G{new}",
                                     in_flight_window(ctx))),
             (DELETE, delete_plans(session, stations, new))]
    phases = []
    for sid in stations:
        phase, detail = COMPLETE, "on the new hierarchy; no older root left"
        for name, by_station in plans:
            plan = by_station[sid]
            if plan.state != PLAN_DONE:
                phase, detail = name, f"{plan.state}: {plan.detail}"
                break
        phases.append(StationPhase(sid, phase, detail))
    if not position.activated:
        overall = INSTALL
    elif not position.switched:
        overall = SWITCH
    elif any(p.phase == REISSUE for p in phases):
        overall = REISSUE
    elif any(p.phase != COMPLETE for p in phases):
        overall = DELETE
    else:
        overall = RETIRE
    return RolloverView(position.generations, position.old, new, overall, phases)


__all__ = ["ROTATION", "Position", "RolloverView", "StationPhase", "in_scope", "locate", "rotate_csms_root",
           "rollover_view"]
