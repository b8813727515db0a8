"""Firmware campaigns: one image to every station a filter matches, paced, stopped on a failure
threshold, resumable.

A campaign is rows, not a running task: the campaign and one row per station it chose when it
was created (a glob over station ids, enabled stations only). A worker in ``chargeca serve``
(``CampaignWorker``) looks at the running campaigns every ``[firmware] campaign_interval_seconds``:
it settles each station from its UpdateFirmware's status (Installed → installed; a failure
status, a refusal in the answer, no answer, or a refusal before sending → failed; no final
status within the campaign's ``final_status_minutes``, by default ``[firmware]
campaign_final_status_minutes``, after the request or its install time → failed, rule
``firmware.no_final_status``: a station gone silent counts towards the threshold), halts the
campaign once ``max_failures`` stations failed, and sends the next waiting stations that are
connected and booted, at most ``per_minute`` a minute. Everything it needs is in the database,
so a restart resumes where it stood; an officer may stop a campaign and resume it.

Several nodes (api/cluster/): every node's worker sends to the stations it holds, and one pass
runs at a time in the whole cluster (a PostgreSQL advisory lock held from the settling to the
last station marked). A pass thus sees every send of the passes before it, whichever node made
them: the pace is the campaign's across the cluster, and no station is sent the image twice.
A station whose UpdateFirmware was recorded but not yet marked when its sender stopped (a process
killed between the two, a node lost) is adopted from that record by the next pass: settled from
its statuses like any sent station, never sent again.

The sending itself is block L's one workflow (api/csms/firmware/updates.py): each station's
UpdateFirmware is checked as any other (its root held, the signature over the image).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase

from sqlalchemy import and_
from sqlmodel import Session, select

from api.core.audit import Actor, audited, run_in_session
from api.core.context import Context
from api.core.failure_log import FailureLog, woken_or_after
from api.core.refusal import Conflict, NotFound, Refusal
from api.csms.firmware import registry, service, signal
from api.csms.firmware.location import PROTOCOLS
from api.csms.firmware.updates import UpdateRequest, update_firmware
from api.ocpp.gateway import Gateway, StationNotConnected
from storage import advisory_locks
from storage.firmware import (
    FAILED,
    FINISHED,
    HALTED,
    INSTALLED,
    RUNNING,
    SENT,
    STOPPED,
    WAITING,
    FirmwareCampaign,
    FirmwareCampaignStation,
    FirmwareUpdate,
)
from storage.stations import Station
from storage.types import utcnow

log = logging.getLogger("chargeca.firmware.campaigns")

CAMPAIGN_ACTOR = Actor("system:firmware-campaign", "officer")
STATIONS_MAX = 100_000
FAILURES_MAX = 1_000_000
AUTO = "auto"   # a campaign's protocol: each station's chosen from what it reported
NO_FINAL_STATUS = "firmware.no_final_status"
_SETTLED = (INSTALLED, FAILED)


@dataclass(frozen=True)
class CampaignSpec:
    image_id: int
    station_filter: str = "*"
    per_minute: int = 10
    max_failures: int = 1
    install_delay_minutes: int = 0
    protocol: str = AUTO
    final_status_minutes: int | None = None   # None: the policy's


@dataclass(frozen=True)
class PlannedStation:
    station_id: str
    ready: bool          # the check before sending passes now
    detail: str          # why not, or what would be sent


@dataclass
class CampaignView:
    campaign: FirmwareCampaign
    stations: list[FirmwareCampaignStation] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(s.state for s in self.stations))


def _check_spec(ctx: Context, spec: CampaignSpec) -> None:
    if not 0 < len(spec.station_filter) <= 200:
        raise Refusal("campaign.filter", "station_filter must be a glob of 1 to 200 characters, e.g. DEPOT-A-*")
    if not 1 <= spec.per_minute <= ctx.policy.firmware.campaign_max_per_minute:
        raise Refusal("campaign.pacing", f"per_minute must be 1 to {ctx.policy.firmware.campaign_max_per_minute} "
                                         "([firmware] campaign_max_per_minute)")
    _check_threshold(spec.max_failures)
    if not 0 <= spec.install_delay_minutes <= 60 * 24 * 30:
        raise Refusal("campaign.install_delay", "install_delay_minutes must be 0 to 43200 (30 days)")
    if spec.protocol not in (*PROTOCOLS, AUTO):
        raise Refusal("campaign.protocol", f"protocol must be one of {', '.join((*PROTOCOLS, AUTO))}")
    if spec.final_status_minutes is not None and not 1 <= spec.final_status_minutes <= 60 * 24 * 30:
        raise Refusal("campaign.final_status", "final_status_minutes must be 1 to 43200 (30 days)")


def _check_threshold(max_failures: int) -> None:
    if not 1 <= max_failures <= FAILURES_MAX:
        raise Refusal("campaign.threshold", f"max_failures must be 1 to {FAILURES_MAX:,}")


def _matching(session: Session, pattern: str) -> list[str]:
    ids = session.exec(select(Station.id).where(Station.enabled == True)).all()
    chosen = sorted(sid for sid in ids if fnmatchcase(sid, pattern))
    if len(chosen) > STATIONS_MAX:
        raise Refusal("campaign.size", f"the filter matches {len(chosen)} stations; at most {STATIONS_MAX} "
                                       "per campaign")
    return chosen


def _taken(session: Session, *, besides: int | None = None) -> dict[str, int]:
    """The stations still waiting for or in an update of a running or halted campaign, and that
    campaign. A station sent a second UpdateFirmware cancels the first (L01): two campaigns that
    share one would fail each other's station. A stopped campaign holds none (it is checked
    when resumed)."""
    return dict(session.exec(
        select(FirmwareCampaignStation.station_id, FirmwareCampaignStation.campaign_id)
        .join(FirmwareCampaign, FirmwareCampaign.id == FirmwareCampaignStation.campaign_id)
        .where(FirmwareCampaign.status.in_((RUNNING, HALTED)),  # type: ignore[attr-defined]
               FirmwareCampaignStation.state.in_((WAITING, SENT)),  # type: ignore[attr-defined]
               FirmwareCampaign.id != besides)).all())


def _check_overlap(session: Session, station_ids: list[str], *, besides: int | None = None) -> None:
    """Refuses stations another campaign holds (``_taken``). On PostgreSQL the check holds a lock
    until its transaction ends: two officers' campaigns made at once are checked in turn."""
    advisory_locks.wait_in(session, advisory_locks.FIRMWARE_CAMPAIGN_MEMBERS)
    taken = _taken(session, besides=besides)
    overlap = sorted((station_id, taken[station_id]) for station_id in station_ids if station_id in taken)
    if overlap:
        named = ", ".join(f"{station_id} (campaign {campaign_id})" for station_id, campaign_id in overlap[:5])
        more = f" and {len(overlap) - 5} more" if len(overlap) > 5 else ""
        raise Conflict("campaign.overlap", f"{len(overlap)} of these stations are still in another running or "
                                           f"halted campaign: {named}{more}; stop that campaign or narrow the filter")


def plan(ctx: Context, spec: CampaignSpec) -> list[PlannedStation]:
    """Dry run: the stations the filter matches and whether each passes the check now. Nothing
    is stored or sent."""
    _check_spec(ctx, spec)

    def read(session: Session) -> list[PlannedStation]:
        image = registry.image(session, spec.image_id)
        taken = _taken(session)
        planned = []
        for station_id in _matching(session, spec.station_filter):
            if station_id in taken:
                planned.append(PlannedStation(station_id, False, f"campaign.overlap: still in campaign "
                                                                 f"{taken[station_id]}"))
                continue
            decision = service.check_update(ctx, session, station_id, image)
            planned.append(PlannedStation(station_id, bool(decision), f"UpdateFirmware {image.name} {image.version}"
                                          if decision else f"{decision.rule}: {decision.reason}"))
        return planned
    return run_in_session(ctx, read)


def create(ctx: Context, actor: Actor, spec: CampaignSpec) -> CampaignView:
    _check_spec(ctx, spec)
    with audited(ctx, actor, "firmware.campaign.create", spec.station_filter[:200]) as (session, detail):
        image = registry.image(session, spec.image_id)
        chosen = _matching(session, spec.station_filter)
        if not chosen:
            raise Refusal("campaign.empty", f"no enabled station matches {spec.station_filter!r}")
        _check_overlap(session, chosen)
        campaign = FirmwareCampaign(image_id=image.id, station_filter=spec.station_filter, per_minute=spec.per_minute,
                                    max_failures=spec.max_failures, install_delay_minutes=spec.install_delay_minutes,
                                    protocol=spec.protocol, final_status_minutes=spec.final_status_minutes,
                                    created_by=actor.name)
        session.add(campaign)
        session.flush()
        rows = [FirmwareCampaignStation(campaign_id=campaign.id, station_id=sid) for sid in chosen]
        session.add_all(rows)
        session.flush()
        detail.update(campaign_id=campaign.id, image_id=image.id, stations=len(rows), per_minute=spec.per_minute,
                      max_failures=spec.max_failures)
        shown = CampaignView(campaign, rows)
    signal.ring()
    return shown


def _campaign(session: Session, campaign_id: int) -> FirmwareCampaign:
    campaign = session.get(FirmwareCampaign, campaign_id)
    if campaign is None:
        raise NotFound("campaign.unknown", f"no firmware campaign {campaign_id}")
    return campaign


def view(session: Session, campaign_id: int) -> CampaignView:
    campaign = _campaign(session, campaign_id)
    rows = session.exec(select(FirmwareCampaignStation).where(FirmwareCampaignStation.campaign_id == campaign_id)
                        .order_by(FirmwareCampaignStation.station_id)).all()
    return CampaignView(campaign, list(rows))


def listed(session: Session) -> list[CampaignView]:
    return [view(session, c.id) for c in session.exec(select(FirmwareCampaign).order_by(FirmwareCampaign.id.desc()))]


def set_status(ctx: Context, actor: Actor, campaign_id: int, status: str, *,
               max_failures: int | None = None) -> CampaignView:
    """Stop a running (or halted) campaign, or resume a stopped or halted one (optionally with a
    higher failure threshold: a halted campaign resumed as it was would halt again at once)."""
    action = "firmware.campaign.stop" if status == STOPPED else "firmware.campaign.resume"
    with audited(ctx, actor, action, str(campaign_id)) as (session, detail):
        campaign = _campaign(session, campaign_id)
        allowed = (RUNNING, HALTED) if status == STOPPED else (STOPPED, HALTED)
        if campaign.status not in allowed:
            raise Conflict("campaign.status", f"campaign {campaign_id} is {campaign.status}")
        if status == RUNNING and campaign.status == STOPPED:
            unfinished = session.exec(select(FirmwareCampaignStation.station_id).where(
                FirmwareCampaignStation.campaign_id == campaign_id,
                FirmwareCampaignStation.state.in_((WAITING, SENT)))).all()  # type: ignore[attr-defined]
            _check_overlap(session, list(unfinished), besides=campaign_id)
        if max_failures is not None:
            _check_threshold(max_failures)
            campaign.max_failures = max_failures
        detail.update(previous=campaign.status, max_failures=campaign.max_failures)
        campaign.status, campaign.updated_at = status, utcnow()
        campaign.detail = f"{action.split('.')[-1]} by {actor.name}"
        session.add(campaign)
        session.flush()
        shown = view(session, campaign_id)
    signal.ring()
    return shown


# --- the worker --------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Due:
    campaign_id: int
    image_id: int
    protocol: str
    install_delay_minutes: int
    station_ids: list[str]


def final_status_minutes(ctx: Context, campaign: FirmwareCampaign) -> int:
    return campaign.final_status_minutes or ctx.policy.firmware.campaign_final_status_minutes


def _settle(session: Session, campaign: FirmwareCampaign, now: datetime,
            wait: timedelta) -> list[FirmwareCampaignStation]:
    """Each sent station's state from its update's status; one with no final status ``wait``
    after its request (or its install time) has failed."""
    rows = list(session.exec(select(FirmwareCampaignStation)
                             .where(FirmwareCampaignStation.campaign_id == campaign.id)))
    _adopt(session, campaign, rows, now)
    sent = [r for r in rows if r.state == SENT and r.update_id is not None]
    updates = {u.id: u for u in session.exec(select(FirmwareUpdate).where(
        FirmwareUpdate.id.in_([r.update_id for r in sent])))} if sent else {}
    for row in sent:
        update = updates.get(row.update_id)
        if update is None:
            continue
        detail = f"request {update.request_id}: {update.status}"
        if update.status in service.SUCCEEDED:
            row.state = INSTALLED
        elif update.status in service.ENDED:
            row.state = FAILED
        elif now >= max(update.created_at, update.install_at or update.created_at) + wait:
            row.state = FAILED
            detail = (f"{NO_FINAL_STATUS}: request {update.request_id} has no final status "
                      f"{int(wait.total_seconds() // 60)} minute(s) on (last: {update.status})")
        else:
            continue
        row.detail, row.updated_at = detail[:500], now
        session.add(row)
    return rows


def _adopt(session: Session, campaign: FirmwareCampaign, rows: list[FirmwareCampaignStation], now: datetime) -> None:
    """Waiting stations with an UpdateFirmware of this campaign recorded: their sender stopped
    after recording it (the intent, stored before the call left) and before marking the row. The
    station may hold the request: it is followed, not sent again."""
    recorded = session.exec(
        select(FirmwareUpdate).join(FirmwareCampaignStation, and_(
            FirmwareCampaignStation.campaign_id == FirmwareUpdate.campaign_id,
            FirmwareCampaignStation.station_id == FirmwareUpdate.station_id))
        .where(FirmwareUpdate.campaign_id == campaign.id, FirmwareCampaignStation.state == WAITING)
        .order_by(FirmwareUpdate.id)).all()
    if not recorded:
        return
    waiting = {r.station_id: r for r in rows if r.state == WAITING}
    for update in recorded:  # by id: a station's latest request is the one followed
        row = waiting[update.station_id]
        row.state, row.update_id, row.updated_at = SENT, update.id, now
        row.detail = f"request {update.request_id}: {update.status} (recorded before its sender stopped)"
        session.add(row)
    log.warning("firmware campaign %s: %d station(s) adopted from requests recorded before their sender stopped",
                campaign.id, len({u.station_id for u in recorded}))


def _due(session: Session, campaign: FirmwareCampaign, rows: list[FirmwareCampaignStation], now: datetime,
         connected: set[str], interval: float) -> _Due | None:
    """Settle the campaign's state and say which stations to send to now (pacing)."""
    failed = sum(r.state == FAILED for r in rows)
    if failed >= campaign.max_failures:
        campaign.status, campaign.detail = HALTED, f"{failed} station(s) failed (threshold {campaign.max_failures})"
    elif all(r.state in _SETTLED for r in rows):
        installed = sum(r.state == INSTALLED for r in rows)
        campaign.status, campaign.detail = FINISHED, f"{installed} installed, {failed} failed"
    if campaign.status != RUNNING:
        campaign.updated_at = now
        session.add(campaign)
        log.info("firmware campaign %s %s: %s", campaign.id, campaign.status, campaign.detail)
        return None
    gap = 60.0 / campaign.per_minute
    last = session.exec(select(FirmwareUpdate.created_at).where(FirmwareUpdate.campaign_id == campaign.id)
                        .order_by(FirmwareUpdate.id.desc())).first()
    # At most one pass's worth at this pace (a station sent long ago earns no burst).
    budget = int(max(1.0, min(interval, (now - last).total_seconds()) / gap)) if last is not None else 1
    if last is not None and now - last < timedelta(seconds=gap):
        return None
    waiting = [r.station_id for r in sorted(rows, key=lambda r: r.station_id)
               if r.state == WAITING and r.station_id in connected]
    if not waiting:
        return None
    return _Due(campaign.id, campaign.image_id, campaign.protocol, campaign.install_delay_minutes, waiting[:budget])


class CampaignWorker:
    """Runs the running campaigns, pass by pass (see the module docstring)."""

    def __init__(self, gateway: Gateway, interval: float | None = None) -> None:
        self._gateway = gateway
        self._ctx = gateway.ctx
        self._interval = interval or gateway.ctx.policy.firmware.campaign_interval_seconds
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._unlisten = lambda: None

    def start(self) -> CampaignWorker:
        self._unlisten = signal.listen(signal.event_waker(self._wake, asyncio.get_running_loop()))
        self._task = asyncio.create_task(self._run(), name="firmware-campaigns")
        return self

    async def aclose(self) -> None:
        self._unlisten()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        failures = FailureLog(log, "firmware campaign pass")
        while True:
            await failures.attempt(self.run_pass)
            await woken_or_after(self._wake, self._interval)
            self._wake.clear()

    def _connected(self) -> set[str]:
        return {s.station_id for s in self._gateway.sessions() if s.boot.status == "Accepted"}

    async def run_pass(self) -> None:
        """One pass, unless another node's is running (this node's stations wait for its next)."""
        async with advisory_locks.holding(self._ctx.engine, advisory_locks.FIRMWARE_CAMPAIGN_PASS) as got:
            if got:
                await self._pass()

    async def _pass(self) -> None:
        connected = self._connected()

        def settle(session: Session) -> list[_Due]:
            now = utcnow()
            due = []
            for campaign in session.exec(select(FirmwareCampaign).where(FirmwareCampaign.status == RUNNING)):
                rows = _settle(session, campaign, now,
                               timedelta(minutes=final_status_minutes(self._ctx, campaign)))
                found = _due(session, campaign, rows, now, connected, self._interval)
                if found is not None:
                    due.append(found)
            return due

        for due in await asyncio.to_thread(run_in_session, self._ctx, settle):
            for station_id in due.station_ids:
                await self._send(due, station_id)

    async def _send(self, due: _Due, station_id: str) -> None:
        install_at = utcnow() + timedelta(minutes=due.install_delay_minutes) if due.install_delay_minutes else None
        wanted = UpdateRequest(image_id=due.image_id, install_at=install_at,
                               protocol=None if due.protocol == AUTO else due.protocol,
                               campaign_id=due.campaign_id)
        try:
            result = await update_firmware(self._gateway, CAMPAIGN_ACTOR, station_id, wanted)
        except StationNotConnected:
            return  # still waiting: sent when it is back
        except Refusal as exc:
            await asyncio.to_thread(self._mark, due.campaign_id, station_id, FAILED, None, f"{exc.rule}: {exc}")
            return
        update = result.update
        state = SENT if update.status not in service.ENDED else FAILED
        await asyncio.to_thread(self._mark, due.campaign_id, station_id, state, update.id,
                                f"request {update.request_id}: {update.status}")

    def _mark(self, campaign_id: int, station_id: str, state: str, update_id: int | None, detail: str) -> None:
        def mark(session: Session) -> None:
            row = session.get(FirmwareCampaignStation, (campaign_id, station_id))
            row.state, row.update_id, row.detail, row.updated_at = state, update_id, detail[:500], utcnow()
            session.add(row)
        run_in_session(self._ctx, mark)
