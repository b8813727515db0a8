"""Firmware campaigns (api/rotation/firmware_campaigns.py) over REST: a dry run plans without
storing or sending; a campaign sends to every matching station at its pace, records each
station's progress from its statuses, fails a station refused by the check (its root missing),
halts at the failure threshold, stops, and resumes from its rows; a request recorded by a sender
that stopped before marking its row is followed, never sent again; a station still in one running
campaign is not given to another."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from core_support import eventually
from firmware_support import chargeca_image, sent, station_holding
from ocpp_support import files_csms  # noqa: F401 - fixture
from sqlmodel import func, select

from api.core.audit import run_in_session
from api.csms.firmware import signal, updates
from api.csms.firmware.updates import UpdateRequest
from api.rotation.firmware_campaigns import CAMPAIGN_ACTOR
from storage.audit import AuditEntry
from storage.firmware import FirmwareCampaign, FirmwareUpdate


async def _fleet(csms, *, without_root: str):
    image, root = await chargeca_image(csms)
    stations = {}
    for station_id in ("CAMP-A", "CAMP-B", "CAMP-C"):
        stations[station_id] = await station_holding(csms, station_id, None if station_id == without_root else root)
    # The one without the root has reported its (empty) inventory.
    refreshed = await csms.rest.post(f"/api/v1/stations/{without_root}/installed-certificates/refresh",
                                     headers=csms.headers("officer"))
    assert refreshed.status_code == 200, refreshed.text
    return image, stations


def _campaign(csms, **body):
    return csms.rest.post("/api/v1/firmware/campaigns", json=body, headers=csms.headers("officer"))


async def _settled(csms, campaign_id: int, status: str, timeout: float = 30):
    async def reached():
        shown = (await csms.rest.get(f"/api/v1/firmware/campaigns/{campaign_id}",
                                     headers=csms.headers("auditor"))).json()
        return shown if shown["status"] == status else None
    return await eventually(reached, timeout)


async def test_a_dry_run_plans_and_changes_nothing(files_csms):
    image, stations = await _fleet(files_csms, without_root="CAMP-C")

    planned = await _campaign(files_csms, image_id=image["id"], station_filter="CAMP-*", dry_run=True)

    assert planned.status_code == 200, planned.text
    by_station = {p["station_id"]: p for p in planned.json()["stations"]}
    assert [by_station[s]["ready"] for s in ("CAMP-A", "CAMP-B", "CAMP-C")] == [True, True, False]
    assert by_station["CAMP-C"]["detail"].startswith("firmware.root_not_installed")
    count = select(func.count()).select_from(FirmwareCampaign)
    assert run_in_session(files_csms.ctx, lambda s: s.exec(count).one()) == 0
    assert all(sent(station) == [] for station in stations.values())


async def test_a_campaign_installs_where_it_may_and_fails_the_station_without_the_root(files_csms):
    image, stations = await _fleet(files_csms, without_root="CAMP-B")

    made = await _campaign(files_csms, image_id=image["id"], station_filter="CAMP-*", per_minute=600, max_failures=2)

    assert made.status_code == 201, made.text
    shown = await _settled(files_csms, made.json()["id"], "finished")
    states = {s["station_id"]: s for s in shown["stations"]}
    assert {k: v["state"] for k, v in states.items()} == {"CAMP-A": "installed", "CAMP-B": "failed",
                                                          "CAMP-C": "installed"}
    assert states["CAMP-B"]["detail"].startswith("firmware.root_not_installed")
    assert shown["counts"] == {"installed": 2, "failed": 1}
    assert [len(sent(stations[s])) for s in ("CAMP-A", "CAMP-B", "CAMP-C")] == [1, 0, 1]
    assert stations["CAMP-A"].firmware.boots == ["Accepted"]


async def test_the_failure_threshold_halts_and_a_resume_goes_on(files_csms):
    image, stations = await _fleet(files_csms, without_root="CAMP-A")

    made = await _campaign(files_csms, image_id=image["id"], station_filter="CAMP-*", per_minute=600, max_failures=1)
    halted = await _settled(files_csms, made.json()["id"], "halted")

    assert halted["counts"] == {"failed": 1, "waiting": 2} and "threshold 1" in halted["detail"]
    assert all(sent(stations[s]) == [] for s in ("CAMP-B", "CAMP-C"))
    stopped = await files_csms.rest.post(f"/api/v1/firmware/campaigns/{made.json()['id']}/stop",
                                         headers=files_csms.headers("officer"))
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    await asyncio.sleep(0.3)
    assert all(sent(stations[s]) == [] for s in ("CAMP-B", "CAMP-C"))

    resumed = await files_csms.rest.post(f"/api/v1/firmware/campaigns/{made.json()['id']}/resume",
                                         json={"max_failures": 5}, headers=files_csms.headers("officer"))

    assert resumed.status_code == 200 and resumed.json()["status"] == "running", resumed.text
    finished = await _settled(files_csms, made.json()["id"], "finished")
    assert finished["counts"] == {"failed": 1, "installed": 2}
    again = await files_csms.rest.post(f"/api/v1/firmware/campaigns/{made.json()['id']}/resume",
                                       headers=files_csms.headers("officer"))
    assert again.status_code == 409 and again.json()["rule"] == "campaign.status"


async def test_campaign_input_is_refused_by_name(files_csms):
    image, _ = await chargeca_image(files_csms)
    empty = await _campaign(files_csms, image_id=image["id"], station_filter="NOBODY-*")
    too_fast = await _campaign(files_csms, image_id=image["id"], per_minute=100_000)
    unknown = await _campaign(files_csms, image_id=999999)

    assert (empty.status_code, empty.json()["rule"]) == (422, "campaign.empty")
    assert (too_fast.status_code, too_fast.json()["rule"]) == (422, "campaign.pacing")
    assert (unknown.status_code, unknown.json()["rule"]) == (404, "firmware.image.unknown")


async def test_a_station_gone_silent_fails_after_the_campaigns_timeout_and_counts_towards_the_threshold(files_csms):
    image, root = await chargeca_image(files_csms)
    silent = await station_holding(files_csms, "CAMP-SILENT", root)
    silent.firmware.hold.clear()   # it verifies the signature, then never reports again
    made = await _campaign(files_csms, image_id=image["id"], station_filter="CAMP-SILENT", per_minute=600,
                           max_failures=1, final_status_minutes=30)
    assert made.status_code == 201 and made.json()["final_status_minutes"] == 30, made.text
    campaign_id = made.json()["id"]
    await eventually(lambda: _last_status(silent, "SignatureVerified"), 15)
    await asyncio.sleep(0.3)
    shown = (await files_csms.rest.get(f"/api/v1/firmware/campaigns/{campaign_id}",
                                       headers=files_csms.headers("auditor"))).json()
    assert shown["status"] == "running" and shown["counts"] == {"sent": 1}

    # 31 minutes on, still silent: the station has failed, and the campaign halts on it.
    run_in_session(files_csms.ctx, lambda s: _age_updates(s, minutes=31))
    signal.ring()
    halted = await _settled(files_csms, campaign_id, "halted")

    (station,) = halted["stations"]
    assert station["state"] == "failed" and halted["counts"] == {"failed": 1}
    assert station["detail"].startswith("firmware.no_final_status") and "SignatureVerified" in station["detail"]
    assert "threshold 1" in halted["detail"]


async def test_the_timeout_is_the_policys_unless_the_campaign_sets_one(files_csms):
    image, root = await chargeca_image(files_csms)
    station = await station_holding(files_csms, "CAMP-QUIET", root)
    station.firmware.hold.clear()
    made = await _campaign(files_csms, image_id=image["id"], station_filter="CAMP-QUIET", per_minute=600)
    assert made.json()["final_status_minutes"] is None and made.json()["protocol"] == "auto"
    await eventually(lambda: _last_status(station, "SignatureVerified"), 15)

    # Past a 30-minute timeout, not past the policy's 240: still waiting for it.
    run_in_session(files_csms.ctx, lambda s: _age_updates(s, minutes=31))
    signal.ring()
    await asyncio.sleep(0.5)
    shown = (await files_csms.rest.get(f"/api/v1/firmware/campaigns/{made.json()['id']}",
                                       headers=files_csms.headers("auditor"))).json()
    assert shown["counts"] == {"sent": 1} and shown["status"] == "running"
    too_long = await _campaign(files_csms, image_id=image["id"], station_filter="CAMP-QUIET", final_status_minutes=0)
    assert too_long.status_code == 422


async def test_a_request_recorded_before_its_sender_stopped_is_followed_and_never_sent_again(files_csms):
    image, root = await chargeca_image(files_csms)
    station = await station_holding(files_csms, "CAMP-KILLED", root)
    await station.close()
    await files_csms.until(lambda: files_csms.gateway.session("CAMP-KILLED") is None)
    made = await _campaign(files_csms, image_id=image["id"], station_filter="CAMP-KILLED", per_minute=600)
    campaign_id = made.json()["id"]
    # What a process killed between recording the station's UpdateFirmware (before the call
    # leaves) and marking its campaign row leaves behind: the request, and the row still waiting.
    recorded, _ = await asyncio.to_thread(updates._begin, files_csms.gateway, CAMPAIGN_ACTOR, "CAMP-KILLED",
                                          UpdateRequest(image_id=image["id"], campaign_id=campaign_id))

    signal.ring()
    adopted = await _station_state(files_csms, campaign_id, "sent")
    assert f"request {recorded.request_id}" in adopted["detail"]

    # Back, the station reports the request it had received as installed: the campaign ends on it.
    await station.reconnect()
    assert (await station.boot())["status"] == "Accepted"
    await station.call("FirmwareStatusNotification", {"status": "Installed", "requestId": recorded.request_id})
    signal.ring()
    shown = await _settled(files_csms, campaign_id, "finished")
    assert shown["counts"] == {"installed": 1}
    assert sent(station) == []


async def test_a_station_still_in_a_running_campaign_is_not_given_to_another(files_csms):
    image, root = await chargeca_image(files_csms)
    busy = await station_holding(files_csms, "CAMP-BUSY", root)
    busy.firmware.hold.clear()   # it stays in its update
    free = await station_holding(files_csms, "CAMP-FREE", root)
    first = await _campaign(files_csms, image_id=image["id"], station_filter="CAMP-BUSY", per_minute=600)
    first_id = first.json()["id"]
    await _station_state(files_csms, first_id, "sent")

    planned = await _campaign(files_csms, image_id=image["id"], station_filter="CAMP-*", dry_run=True)
    overlapping = await _campaign(files_csms, image_id=image["id"], station_filter="CAMP-*", per_minute=600)

    ready = {p["station_id"]: (p["ready"], p["detail"]) for p in planned.json()["stations"]}
    assert ready["CAMP-BUSY"] == (False, f"campaign.overlap: still in campaign {first_id}")
    assert ready["CAMP-FREE"][0] is True
    assert overlapping.status_code == 409 and overlapping.json()["rule"] == "campaign.overlap", overlapping.text
    assert f"CAMP-BUSY (campaign {first_id})" in overlapping.json()["error"]
    assert _campaigns_made(files_csms) == 1
    assert [e.outcome for e in _audited(files_csms, "firmware.campaign.create")] == ["success", "refused"]
    await asyncio.sleep(0.3)
    assert len(sent(busy)) == 1 and sent(free) == []

    # Stopped, the first holds it no more; resumed while the second holds it, it is refused.
    stopped = await files_csms.rest.post(f"/api/v1/firmware/campaigns/{first_id}/stop",
                                         headers=files_csms.headers("officer"))
    assert stopped.status_code == 200, stopped.text
    second = await _campaign(files_csms, image_id=image["id"], station_filter="CAMP-*", per_minute=600)
    assert second.status_code == 201, second.text
    resumed = await files_csms.rest.post(f"/api/v1/firmware/campaigns/{first_id}/resume",
                                         headers=files_csms.headers("officer"))
    assert resumed.status_code == 409 and resumed.json()["rule"] == "campaign.overlap", resumed.text
    assert f"campaign {second.json()['id']}" in resumed.json()["error"]


def _campaigns_made(csms) -> int:
    return run_in_session(csms.ctx, lambda s: s.exec(select(func.count()).select_from(FirmwareCampaign)).one())


def _audited(csms, action: str) -> list[AuditEntry]:
    return run_in_session(csms.ctx, lambda s: list(s.exec(select(AuditEntry).where(AuditEntry.action == action)
                                                          .order_by(AuditEntry.seq))))


async def _station_state(csms, campaign_id: int, state: str) -> dict:
    async def reached():
        shown = (await csms.rest.get(f"/api/v1/firmware/campaigns/{campaign_id}",
                                     headers=csms.headers("auditor"))).json()
        (station,) = shown["stations"]
        return station if station["state"] == state else None
    return await eventually(reached, 15)


async def _last_status(station, status: str) -> bool:
    return bool(station.firmware.statuses) and station.firmware.statuses[-1][1] == status


def _age_updates(session, *, minutes: int) -> None:
    """As if the UpdateFirmware had left ``minutes`` ago."""
    for row in session.exec(select(FirmwareUpdate)):
        row.created_at -= timedelta(minutes=minutes)
        session.add(row)
