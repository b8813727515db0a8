"""K01, K08-K10: a smart-charging call a station cannot apply is refused by name before it leaves,
on every door (typed command, raw call, stored job, and again as a stored job leaves), nothing
sent, the refusal audited. Real server, a real simulated station over WebSockets; the
transactions are the ones it reported."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from core_support import Transactions, answer, booted_station, command, eventually, received
from ocpp_support import csms  # noqa: F401 - fixture
from sqlmodel import select

from api.core.audit import run_in_session
from api.csms.smart_charging.rules import Reported, check_composite_schedule, check_set_profile
from storage.audit import AuditEntry

START = "2030-01-01T00:00:00Z"
PERIODS = [{"start_period": 0, "limit": 16.0}, {"start_period": 600, "limit": 10.5}]
DEFAULT = {"id": 7, "stack_level": 1, "charging_profile_purpose": "TxDefaultProfile",
           "charging_profile_kind": "Absolute",
           "charging_schedule": [{"id": 1, "start_schedule": START, "charging_rate_unit": "A",
                                  "charging_schedule_period": PERIODS}]}


def _profile(schedule: dict | None = None, **changes) -> dict:
    return {**DEFAULT, **changes, "charging_schedule": [{**DEFAULT["charging_schedule"][0], **(schedule or {})}]}


def _ago(days: int) -> str:
    return (datetime.now(timezone.utc) - timedelta(days=days)).isoformat(timespec="seconds")


BAD = [
    ({"evse_id": -1, "charging_profile": _profile()}, "call.charging_profile.evse"),
    ({"evse_id": 1, "charging_profile": _profile(charging_profile_purpose="ChargingStationMaxProfile")},
     "call.charging_profile.evse"),
    ({"evse_id": 0, "charging_profile": _profile(charging_profile_purpose="ChargingStationExternalConstraints")},
     "call.charging_profile.purpose"),
    ({"evse_id": 1, "charging_profile": _profile(charging_profile_purpose="TxProfile")},
     "call.charging_profile.transaction"),
    ({"evse_id": 1, "charging_profile": _profile(transaction_id="T-1")}, "call.charging_profile.transaction"),
    ({"evse_id": 1, "charging_profile": _profile(stack_level=-1)}, "call.charging_profile.stack_level"),
    ({"evse_id": 1, "charging_profile": _profile(valid_from="2030-02-01T00:00:00Z", valid_to="2030-01-01T00:00:00Z")},
     "call.charging_profile.validity"),
    ({"evse_id": 1, "charging_profile": _profile(valid_to=_ago(1))}, "call.charging_profile.validity"),
    ({"evse_id": 1, "charging_profile": _profile(charging_profile_kind="Relative")}, "call.charging_profile.kind"),
    ({"evse_id": 1, "charging_profile": _profile({"start_schedule": None})}, "call.charging_profile.kind"),
    ({"evse_id": 1, "charging_profile": _profile(charging_profile_kind="Recurring")}, "call.charging_profile.kind"),
    ({"evse_id": 1, "charging_profile": _profile({"charging_schedule_period": PERIODS[::-1]})},
     "call.charging_profile.periods"),
    ({"evse_id": 1, "charging_profile": _profile({"charging_schedule_period": [
        {"start_period": 0, "limit": 16.0}, {"start_period": 0, "limit": 8.0}]})}, "call.charging_profile.periods"),
    ({"evse_id": 1, "charging_profile": _profile({"charging_schedule_period": [{"start_period": -5, "limit": 16.0}]})},
     "call.charging_profile.periods"),
    ({"evse_id": 1, "charging_profile": _profile({"duration": 300})}, "call.charging_profile.periods"),
    ({"evse_id": 1, "charging_profile": _profile({"charging_schedule_period": [{"start_period": 0, "limit": -16.0}]})},
     "call.charging_profile.limit"),
    ({"evse_id": 1, "charging_profile": _profile({"charging_schedule_period": [{"start_period": 0, "limit": 1e300}]})},
     "call.charging_profile.limit"),
    ({"evse_id": 1, "charging_profile": _profile({"charging_schedule_period": [{"start_period": 0, "limit": 8.15}]})},
     "call.charging_profile.limit"),
    ({"evse_id": 1, "charging_profile": _profile({"charging_schedule_period": [
        {"start_period": 0, "limit": 16.0, "number_phases": 4}]})}, "call.charging_profile.phases"),
]


def _call_audit(csms, station_id: str) -> list[dict]:
    query = (select(AuditEntry).where(AuditEntry.action == "station.call", AuditEntry.target == station_id)
             .order_by(AuditEntry.seq))
    return [{"outcome": e.outcome, **json.loads(e.detail)}
            for e in run_in_session(csms.ctx, lambda s: list(s.exec(query)))]


def _raw(body: dict) -> dict:
    """A typed command's body as the raw call's OCPP payload."""
    def camel(name: str) -> str:
        head, *rest = name.split("_")
        return head + "".join(part.title() for part in rest)

    def convert(value):
        if isinstance(value, dict):
            return {camel(k): convert(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value
    return convert(body)


@pytest.mark.parametrize(("body", "rule"), BAD)
async def test_a_profile_a_station_cannot_apply_is_refused_on_every_door(csms, body, rule):
    station = await booted_station(csms, "K01-BAD")

    typed = await command(csms, "K01-BAD", "SetChargingProfile", body)
    raw = await csms.post_call("K01-BAD", "SetChargingProfile", _raw(body))
    job = await csms.post_call("K01-BAD", "SetChargingProfile", _raw(body), mode="async")

    for refused in (typed, raw, job):
        assert refused.status_code == 422, refused.text
        assert refused.json()["rule"] == rule, refused.text
    assert received(station, "SetChargingProfile") == []
    refusals = _call_audit(csms, "K01-BAD")
    assert [(r["action"], r["rule"]) for r in refusals] == [("SetChargingProfile", rule)] * 3


async def test_a_tx_profile_goes_to_a_running_transaction_on_its_evse_only(csms):
    station = await booted_station(csms, "K01-TX", connectors=2)
    finished, running = Transactions(station), Transactions(station, evse_id=2)
    await finished.send("Started", "CablePluggedIn")
    await finished.send("Ended", "EVDeparted", info={"stoppedReason": "EVDisconnected"})
    await running.send("Started", "CablePluggedIn", info={"chargingState": "Charging"})
    answer(station, "SetChargingProfile", {"status": "Accepted"})

    def tx(evse_id: int, transaction_id: str) -> dict:
        return {"evse_id": evse_id, "charging_profile": _profile(charging_profile_purpose="TxProfile",
                                                                 transaction_id=transaction_id)}

    unknown = await command(csms, "K01-TX", "SetChargingProfile", tx(1, "never-seen"))
    ended = await command(csms, "K01-TX", "SetChargingProfile", tx(1, finished.transaction_id))
    elsewhere = await command(csms, "K01-TX", "SetChargingProfile", tx(1, running.transaction_id))
    sent = await command(csms, "K01-TX", "SetChargingProfile", tx(2, running.transaction_id))

    assert (unknown.status_code, unknown.json()["rule"]) == (422, "call.charging_profile.unknown_transaction")
    assert (ended.status_code, ended.json()["rule"]) == (422, "call.charging_profile.ended")
    assert (elsewhere.status_code, elsewhere.json()["rule"]) == (422, "call.charging_profile.evse")
    assert sent.status_code == 200 and sent.json()["result"]["status"] == "Accepted", sent.text
    assert [p["chargingProfile"]["transactionId"] for p in received(station, "SetChargingProfile")] == [
        running.transaction_id]


async def test_a_stored_tx_profile_is_refused_as_it_leaves_once_its_transaction_ended(csms):
    station = await booted_station(csms, "K01-LATER")
    running = Transactions(station)
    await running.send("Started", "CablePluggedIn", info={"chargingState": "Charging"})
    await station.close()
    stored = await csms.post_call("K01-LATER", "SetChargingProfile", {"evseId": 1, "chargingProfile": _raw(
        _profile(charging_profile_purpose="TxProfile", transaction_id=running.transaction_id))}, mode="async")
    assert stored.status_code == 202, stored.text

    # Back after the transaction ended offline: its events first (E04), then the boot that
    # lets the outbox send.
    await station.connect()
    assert await running.send("Ended", "EVDeparted", info={"stoppedReason": "EVDisconnected"}) == {}
    assert (await station.boot())["status"] == "Accepted"

    async def settled() -> dict | None:
        found = (await csms.rest.get(stored.json()["url"], headers=csms.headers())).json()
        return found if found["status"] != "pending" else None
    found = await eventually(settled)
    assert found["status"] == "failed" and found["error"].startswith("call.charging_profile.ended"), found
    assert received(station, "SetChargingProfile") == []


async def test_composite_schedule_and_criteria_are_refused_outside_their_ranges(csms):
    station = await booted_station(csms, "K08-BAD")

    duration = await command(csms, "K08-BAD", "GetCompositeSchedule", {"duration": -60, "evse_id": 1})
    evse = await command(csms, "K08-BAD", "GetCompositeSchedule", {"duration": 60, "evse_id": -1})
    clear = await command(csms, "K08-BAD", "ClearChargingProfile",
                          {"charging_profile_criteria": {"evse_id": -3}})
    level = await command(csms, "K08-BAD", "GetChargingProfiles",
                          {"request_id": 1, "charging_profile": {"stack_level": -1}})

    assert (duration.status_code, duration.json()["rule"]) == (422, "call.composite_schedule.duration")
    assert (evse.status_code, evse.json()["rule"]) == (422, "call.composite_schedule.evse")
    assert (clear.status_code, clear.json()["rule"]) == (422, "call.charging_profile.evse")
    assert (level.status_code, level.json()["rule"]) == (422, "call.charging_profile.stack_level")
    assert [a for a, _ in station.received if a in ("GetCompositeSchedule", "ClearChargingProfile",
                                                   "GetChargingProfiles")] == []


def test_what_the_station_reported_bounds_unit_stack_level_and_periods():
    reported = Reported(rate_units=frozenset({"W"}), max_stack_level=3, max_periods=1)
    now = datetime.now(timezone.utc)
    payload = {"evseId": 1, "chargingProfile": _raw(_profile())}
    assert check_set_profile(payload, now, Reported(), None)
    assert check_set_profile(payload, now, reported, None).rule == "call.charging_profile.rate_unit"
    watts = {"evseId": 1, "chargingProfile": _raw(_profile({"charging_rate_unit": "W"}, stack_level=4))}
    assert check_set_profile(watts, now, reported, None).rule == "call.charging_profile.stack_level"
    watts["chargingProfile"]["stackLevel"] = 3
    assert check_set_profile(watts, now, reported, None).rule == "call.charging_profile.periods"
    assert check_composite_schedule({"duration": 60, "evseId": 0, "chargingRateUnit": "A"}, reported).rule \
        == "call.composite_schedule.rate_unit"
