"""A01 password update: TC_A_09 (Accepted), TC_A_10 (Rejected) and the lost answer
(docs/architecture.md, "Outcomes that can be lost"). The station is the simulator behind the real listener
(ws + Basic for profile 1, wss + Basic for profile 2); the operator uses the REST API."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from ocpp_support import tls_csms  # noqa: F401 - fixture
from sqlmodel import select

from api.core.audit import run_in_session
from simulator.station import DEFAULT_HANDLERS, StationRefused
from storage.audit import AuditEntry

OLD_PASSWORD_LENGTH = 40


async def _booted(csms, station_id: str, profile: int):
    password = csms.add_station(station_id, profile=profile)
    station = csms.simulator(station_id, profile=profile, password=password)
    await station.connect()
    assert (await station.boot())["status"] == "Accepted"
    await csms.connected(station_id)
    return station, password


async def _rotate(csms, station_id: str, **body):
    return await csms.rest.post(f"/api/v1/stations/{station_id}/password-rotation", json=body or None,
                                headers=csms.headers())


def _sent_password(station) -> str:
    action, payload = station.received[-1]
    assert action == "SetVariables"
    (entry,) = payload["setVariableData"]
    assert entry["component"] == {"name": "SecurityCtrlr"} and entry["variable"] == {"name": "BasicAuthPassword"}
    return entry["attributeValue"]


async def _reconnect_with(csms, station, password: str) -> None:
    await station.close()
    await csms.until(lambda: csms.gateway.session(station.identity) is None)
    station.password = password
    await station.connect()


async def _refused_with(csms, station, password: str) -> None:
    await station.close()
    await csms.until(lambda: csms.gateway.session(station.identity) is None)
    station.password = password
    with pytest.raises(StationRefused) as refused:
        await station.connect()
    assert refused.value.status == 401


def _audit_text(csms) -> str:
    rows = run_in_session(csms.ctx, lambda s: list(s.exec(select(AuditEntry))))
    return json.dumps([(r.action, r.detail) for r in rows])


@pytest.mark.parametrize("profile", [1, 2])
async def test_tc_a_09_accepted_new_password_in_use_old_refused(tls_csms, profile, caplog):
    caplog.set_level(logging.DEBUG)
    csms = tls_csms
    station, old = await _booted(csms, f"TC-A-09-{profile}", profile)
    answer = await _rotate(csms, station.identity)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"answer": "accepted", "call_status": "answered", "attribute_status": "Accepted",
                             "description": ""}
    new = _sent_password(station)
    assert new != old and len(new) == OLD_PASSWORD_LENGTH  # A00.FR.205: 16..40 by default
    row = csms.station_row(station.identity)
    assert row.pending_password_hash is None  # A01.FR.03: the old password is no longer accepted
    await _reconnect_with(csms, station, new)
    assert (await station.boot())["status"] == "Accepted"
    await _refused_with(csms, station, old)
    # A01.FR.08/09: the password appears nowhere but on the wire to the station.
    assert new not in answer.text and new not in caplog.text and new not in _audit_text(csms)


async def test_tc_a_10_rejected_old_password_still_works_new_refused(tls_csms):
    csms = tls_csms
    station, old = await _booted(csms, "TC-A-10", 1)

    def reject(st, payload):
        item = payload["setVariableData"][0]
        return {"setVariableResult": [{"attributeStatus": "Rejected", "component": item["component"],
                                       "variable": item["variable"]}]}

    station.handlers["SetVariables"] = reject
    answer = await _rotate(csms, station.identity)
    assert answer.json()["answer"] == "rejected" and answer.json()["attribute_status"] == "Rejected"
    new = _sent_password(station)
    assert csms.station_row(station.identity).pending_password_hash is None
    await _reconnect_with(csms, station, old)
    assert (await station.boot())["status"] == "Accepted"
    await _refused_with(csms, station, new)


def _drop_before_answering(captured: list[str]):
    async def handler(st, payload):
        captured.append(payload["setVariableData"][0]["attributeValue"])
        st.password = captured[-1]
        await st.websocket.close()  # reboots before answering: the CSMS never sees the answer
        return {"setVariableResult": []}
    return handler


@pytest.mark.parametrize("used, dropped", [("new", "old"), ("old", "new")])
async def test_lost_answer_both_work_until_one_is_used(tls_csms, used, dropped):
    csms = tls_csms
    station, old = await _booted(csms, f"A01-LOST-{used}", 1)
    captured: list[str] = []
    station.handlers["SetVariables"] = _drop_before_answering(captured)
    answer = await _rotate(csms, station.identity)
    assert answer.status_code == 200
    assert answer.json()["answer"] == "unknown" and answer.json()["call_status"] == "timeout"
    row = csms.station_row(station.identity)
    assert row.password_hash and row.pending_password_hash  # both valid while unknown
    passwords = {"old": old, "new": captured[0]}
    await _reconnect_with(csms, station, passwords[used])
    assert (await station.boot())["status"] == "Accepted"
    assert csms.station_row(station.identity).pending_password_hash is None
    await _refused_with(csms, station, passwords[dropped])


async def test_a_new_rotation_is_possible_once_the_station_reconnected(tls_csms):
    csms = tls_csms
    station, _old = await _booted(csms, "A01-TWICE", 1)
    captured: list[str] = []
    station.handlers["SetVariables"] = _drop_before_answering(captured)
    assert (await _rotate(csms, station.identity)).json()["answer"] == "unknown"
    # The station is offline now; once back (with either password) a new rotation is possible.
    await _reconnect_with(csms, station, captured[0])
    await csms.connected(station.identity)
    row = csms.station_row(station.identity)
    assert row.pending_password_hash is None
    station.handlers["SetVariables"] = DEFAULT_HANDLERS["SetVariables"]
    assert (await _rotate(csms, station.identity, length=64)).json()["answer"] == "accepted"
    assert len(_sent_password(station)) == 64


async def test_second_rotation_while_unknown_is_409(tls_csms):
    csms = tls_csms
    station, _old = await _booted(csms, "A01-PENDING", 1)
    # A first rotation whose answer never came while the station stays connected.
    station.handlers["SetVariables"] = lambda st, payload: asyncio.sleep(3600)
    first = await _rotate(csms, station.identity, timeout=0.3)
    assert first.json()["answer"] == "unknown"
    second = await _rotate(csms, station.identity)
    assert second.status_code == 409 and second.json()["rule"] == "station.password.pending"


async def test_rotation_needs_a_connected_station_and_the_right_role(tls_csms):
    csms = tls_csms
    csms.add_station("A01-AWAY", profile=1)
    assert (await _rotate(csms, "A01-AWAY")).status_code == 409
    station, _old = await _booted(csms, "A01-ROLE", 1)
    answer = await csms.rest.post("/api/v1/stations/A01-ROLE/password-rotation", headers=csms.headers("auditor"))
    assert answer.status_code == 403
    assert (await _rotate(csms, "A01-ROLE", length=15)).status_code == 422
    assert (await _rotate(csms, "A01-ROLE", length=65)).status_code == 422
