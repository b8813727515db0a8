"""The one per-station step runner the three rotations share.

A rotation is a sequence of steps per station (renew; install the new root; renew then delete
the old root). A step never remembers what it did: ``plans`` reads, for a batch of stations,
what the database and their stored inventories say now — done, something to send (todo),
something under way (waiting), not allowed yet (blocked) or stuck (failed) — and ``apply``
sends what a todo station needs. That is what makes a rotation resumable: after an
interruption the next pass simply finds each station further along.

The runner drives every station through its steps in rounds until each one is done, has
stopped (offline, blocked, failed, refused) or the pass runs out of time. Plans are read in one
batch per step and round (a fleet, not a station, per query); sends run concurrently, bounded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlmodel import Session

from api.core.audit import run_in_session
from api.core.context import Context
from api.core.refusal import Refusal
from api.ocpp.gateway import StationNotConnected
from api.rotation.report import ALREADY, DONE, FAILED, PENDING, PLANNED, REFUSED, Progress

log = logging.getLogger("chargeca.rotation")

# Plan states.
PLAN_DONE, TODO, WAITING, BLOCKED, STUCK = "done", "todo", "waiting", "blocked", "failed"
POLL_SECONDS = 0.25
# A station seen in this pass may be offline for a moment while it reconnects (to use its new
# certificate); only a longer absence makes it pending.
OFFLINE_GRACE_SECONDS = 3.0


@dataclass(frozen=True)
class Plan:
    state: str
    detail: str   # done: what shows it; todo: what would be sent; else: what it waits for / why


def done(detail: str) -> Plan:
    return Plan(PLAN_DONE, detail)


def todo(detail: str) -> Plan:
    return Plan(TODO, detail)


def waiting(detail: str) -> Plan:
    return Plan(WAITING, detail)


def blocked(detail: str) -> Plan:
    return Plan(BLOCKED, detail)


def stuck(detail: str) -> Plan:
    return Plan(STUCK, detail)


class StationStep(Protocol):
    name: str

    def plans(self, session: Session, station_ids: Sequence[str]) -> dict[str, Plan]:
        """Read-only: where each station stands for this step."""

    async def apply(self, station_id: str) -> Progress | None:
        """Send what a todo station needs. None: sent, the next plan tells the result; a
        Progress: the step stops here for this station (failed, pending, refused)."""


class Deadline:
    """The end of a pass, on the loop's clock."""

    def __init__(self, seconds: float) -> None:
        self._at = asyncio.get_running_loop().time() + seconds

    @property
    def remaining(self) -> float:
        return max(0.0, self._at - asyncio.get_running_loop().time())

    @property
    def passed(self) -> bool:
        return self.remaining <= 0


@dataclass
class _Station:
    station_id: str
    position: int = 0          # index of the step it is at
    applied: bool = False      # apply ran for the step it is at
    task: asyncio.Task | None = None
    final: bool = False        # stopped (done with all steps, or stuck somewhere)
    seen: bool = False         # connected at some point of this pass
    offline_since: float | None = None


async def run_steps(ctx: Context, steps: Sequence[StationStep], station_ids: Sequence[str], *,
                    connected: Callable[[str], bool], deadline: Deadline, dry_run: bool = False,
                    concurrency: int = 10) -> list[Progress]:
    """Every station through ``steps`` in order; one Progress per station and step reached."""
    if dry_run:
        return await _plan_only(ctx, steps, station_ids)
    records: list[Progress] = []
    stations = {station_id: _Station(station_id) for station_id in station_ids}
    slots = asyncio.Semaphore(concurrency)
    try:
        while True:
            active = [s for s in stations.values() if not s.final]
            if not active:
                break
            if deadline.passed:
                records += await _out_of_time(ctx, steps, active)
                break
            await _round(ctx, steps, active, records, connected, slots)
            if all(s.final for s in stations.values()):
                break
            await asyncio.sleep(min(POLL_SECONDS, deadline.remaining))
    finally:
        running = [s.task for s in stations.values() if s.task is not None and not s.task.done()]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
    return records


async def _round(ctx: Context, steps: Sequence[StationStep], active: list[_Station], records: list[Progress],
                 connected: Callable[[str], bool], slots: asyncio.Semaphore) -> None:
    for station in active:
        if station.task is not None and station.task.done():
            record = _collect(station, steps[station.position])
            if record is not None:
                records.append(record)
    # Stations whose send is still running are left alone this round.
    ready = [s for s in active if s.task is None and not s.final]
    for position, step in enumerate(steps):
        at_step = [s for s in ready if s.position == position]
        if not at_step:
            continue
        plans = await asyncio.to_thread(run_in_session, ctx, lambda session, ids=[s.station_id for s in at_step],
                                        step=step: step.plans(session, ids))
        for station in at_step:
            record = _advance(station, step, plans[station.station_id], connected, slots, len(steps))
            if record is not None:
                records.append(record)


def _advance(station: _Station, step: StationStep, plan: Plan, connected: Callable[[str], bool],
             slots: asyncio.Semaphore, step_count: int) -> Progress | None:
    sid = station.station_id
    if plan.state == PLAN_DONE:
        station.position += 1
        station.final = station.position >= step_count
        outcome, station.applied = (DONE if station.applied else ALREADY), False
        return Progress(sid, step.name, outcome, plan.detail)
    if plan.state == BLOCKED:
        station.final = True
        return Progress(sid, step.name, PENDING, plan.detail)
    if plan.state == STUCK:
        station.final = True
        return Progress(sid, step.name, FAILED, plan.detail)
    if plan.state == TODO and station.applied:
        # Sent, answered, and the state still says "todo": the station did not do it.
        station.final = True
        return Progress(sid, step.name, FAILED, f"sent, but the station still needs it: {plan.detail}")
    online = connected(sid)
    if not _present(station, online):
        station.final = True
        what = "under way" if plan.state == WAITING else "when it connects"
        return Progress(sid, step.name, PENDING, f"offline; {what}: {plan.detail}")
    if plan.state == WAITING or not online:
        return None  # under way, or back in a moment: look again next round
    station.applied = True
    station.task = asyncio.create_task(_apply(step, sid, slots), name=f"rotation-{step.name}-{sid}")
    return None


def _present(station: _Station, connected: bool) -> bool:
    """Connected, or seen connected in this pass and away for less than the grace period (it
    is reconnecting, e.g. to use its new certificate). A station never seen is simply away."""
    now = asyncio.get_running_loop().time()
    if connected:
        station.seen, station.offline_since = True, None
        return True
    if not station.seen:
        return False
    if station.offline_since is None:
        station.offline_since = now
    return now - station.offline_since < OFFLINE_GRACE_SECONDS


async def _apply(step: StationStep, station_id: str, slots: asyncio.Semaphore) -> Progress | None:
    async with slots:
        try:
            return await step.apply(station_id)
        except StationNotConnected as exc:
            return Progress(station_id, step.name, PENDING, str(exc))
        except Refusal as exc:
            return Progress(station_id, step.name, REFUSED, f"{exc.rule}: {exc}")
        except LookupError as exc:
            return Progress(station_id, step.name, REFUSED, str(exc))


def _collect(station: _Station, step: StationStep) -> Progress | None:
    task, station.task = station.task, None
    try:
        stopped = task.result()
    except Exception as exc:  # noqa: BLE001 - one station's failure must not stop the fleet
        log.exception("rotation step %s failed for %s", step.name, station.station_id)
        stopped = Progress(station.station_id, step.name, FAILED, f"{type(exc).__name__}: {exc}")
    if stopped is not None:
        station.final = True
    return stopped


async def _out_of_time(ctx: Context, steps: Sequence[StationStep], active: list[_Station]) -> list[Progress]:
    def read(session: Session) -> list[Progress]:
        records = []
        for position, step in enumerate(steps):
            ids = [s.station_id for s in active if s.position == position]
            plans = step.plans(session, ids) if ids else {}
            records += [Progress(sid, step.name, PENDING, f"the pass ran out of time; {plans[sid].state}: "
                                                          f"{plans[sid].detail}") for sid in ids]
        return records
    return await asyncio.to_thread(run_in_session, ctx, read)


async def _plan_only(ctx: Context, steps: Sequence[StationStep], station_ids: Sequence[str]) -> list[Progress]:
    """Dry run: each step's plan for every station, read-only, nothing sent."""
    def read(session: Session) -> list[Progress]:
        records = []
        for step in steps:
            plans = step.plans(session, list(station_ids))
            for station_id in station_ids:
                plan = plans[station_id]
                outcome = ALREADY if plan.state == PLAN_DONE else PLANNED
                detail = plan.detail if plan.state in (PLAN_DONE, TODO) else f"{plan.state}: {plan.detail}"
                records.append(Progress(station_id, step.name, outcome, detail))
        return records
    return await asyncio.to_thread(run_in_session, ctx, read)
