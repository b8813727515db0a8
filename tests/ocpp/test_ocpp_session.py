"""One connection's OCPP-J conversation: one CSMS call at a time, crossing calls, timeouts,
lost connections, boot state across reconnects — driven through the REST API."""

from __future__ import annotations

import asyncio
import json

import pytest
from ocpp_support import STATUS, csms, open_csms  # noqa: F401 - fixture
from sqlmodel import select

from api.core.audit import Actor, run_in_session
from api.csms.provisioning.service import set_boot_policy
from api.csms.routes import ROUTES
from storage.audit import AuditEntry

TRIGGER_HEARTBEAT = {"requestedMessage": "Heartbeat"}
GET_OFFLINE_THRESHOLD = {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"},
                                              "variable": {"name": "OfflineThreshold"}}]}
ACCEPTED = {"status": "Accepted"}


@pytest.fixture
async def station(csms):
    password = csms.add_station("CS-S")
    raw = await csms.connect_raw("CS-S", password)
    await raw.boot()
    return raw


async def test_csms_calls_go_out_one_at_a_time(csms, station):
    station.answers["TriggerMessage"] = lambda payload: None  # answered by hand below
    first = asyncio.create_task(csms.post_call("CS-S", "TriggerMessage", TRIGGER_HEARTBEAT))
    received = await station.next_call()
    assert received.action == "TriggerMessage"
    second = asyncio.create_task(csms.post_call("CS-S", "GetVariables", GET_OFFLINE_THRESHOLD))
    with pytest.raises(TimeoutError):
        await station.next_call(timeout=0.3)  # GetVariables waits behind the unanswered call
    await station.reply(received.message_id, ACCEPTED)
    assert (await station.next_call()).action == "GetVariables"
    assert (await first).json()["response"] == ACCEPTED
    assert (await second).status_code == 200


async def test_station_calls_are_answered_while_a_csms_call_is_outstanding(csms, station):
    station.answers["TriggerMessage"] = lambda payload: None
    pending = asyncio.create_task(csms.post_call("CS-S", "TriggerMessage", TRIGGER_HEARTBEAT))
    received = await station.next_call()
    frame = await station.call("Heartbeat", {})  # crosses the CSMS's call
    assert frame[0] == 3 and "currentTime" in frame[2]
    await station.reply(received.message_id, ACCEPTED)
    assert (await pending).status_code == 200


async def test_unanswered_call_times_out_and_a_late_answer_is_ignored(csms, station):
    station.answers["TriggerMessage"] = lambda payload: None
    answer = await csms.post_call("CS-S", "TriggerMessage", TRIGGER_HEARTBEAT, timeout=0.3)
    assert answer.status_code == 504
    assert answer.json()["call_status"] == "timeout" and answer.json()["sent"] is True
    late = await station.next_call()
    await station.reply(late.message_id, ACCEPTED)
    station.answers["TriggerMessage"] = lambda payload: {"status": "Rejected"}
    answer = await csms.post_call("CS-S", "TriggerMessage", TRIGGER_HEARTBEAT)
    assert answer.json()["response"] == {"status": "Rejected"}


async def test_connection_lost_while_waiting_is_a_timeout_with_unknown_outcome(csms, station):
    async def drop(payload):
        await station.ws.close()

    station.answers["TriggerMessage"] = lambda payload: asyncio.ensure_future(drop(payload)) and None
    answer = await csms.post_call("CS-S", "TriggerMessage", TRIGGER_HEARTBEAT)
    assert answer.status_code == 504
    assert answer.json()["sent"] is True and "connection closed" in answer.json()["error"]


async def test_station_callerror_is_reported_with_its_code(csms, station):
    answer = await csms.post_call("CS-S", "GetVariables", GET_OFFLINE_THRESHOLD)
    assert answer.status_code == 200
    assert answer.json()["status"] == "error" and answer.json()["error_code"] == "NotImplemented"


async def test_call_to_a_station_that_is_not_connected_is_409(csms):
    csms.add_station("CS-AWAY")
    answer = await csms.post_call("CS-AWAY", "TriggerMessage", TRIGGER_HEARTBEAT)
    assert answer.status_code == 409 and answer.json()["rule"] == "station.not_connected"


async def test_call_to_an_unknown_station_is_404(csms):
    answer = await csms.post_call("NOBODY", "TriggerMessage", TRIGGER_HEARTBEAT)
    assert answer.status_code == 404


async def test_only_csms_actions_can_be_sent(csms, station):
    answer = await csms.post_call("CS-S", "Heartbeat", {})
    assert answer.status_code == 422 and answer.json()["rule"] == "call.action"


async def test_password_cannot_be_set_behind_the_rotation_workflow(csms, station):
    payload = {"setVariableData": [{"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"},
                                    "attributeValue": "0123456789abcdefXYZ"}]}
    answer = await csms.post_call("CS-S", "SetVariables", payload)
    assert answer.status_code == 422 and answer.json()["rule"] == "call.password"
    assert station.received.empty()
    assert "0123456789abcdefXYZ" not in answer.text


async def test_negative_request_id_is_refused_before_sending(csms, station):
    answer = await csms.post_call("CS-S", "GetBaseReport", {"requestId": -1, "reportBase": "FullInventory"})
    assert answer.status_code == 422 and answer.json()["rule"] == "call.request_id"
    assert station.received.empty()


async def test_auditors_see_connections_but_cannot_send(csms, station):
    listing = await csms.rest.get("/api/v1/connections", headers=csms.headers("auditor"))
    assert [c["station_id"] for c in listing.json()] == ["CS-S"]
    answer = await csms.post_call("CS-S", "TriggerMessage", TRIGGER_HEARTBEAT, role="auditor")
    assert answer.status_code == 403
    assert station.received.empty()


async def test_connection_listing_shows_transport_boot_and_connectors(csms, station):
    await station.call("StatusNotification", {**STATUS, "connectorStatus": "Occupied"})
    listing = (await csms.rest.get("/api/v1/connections", headers=csms.headers())).json()
    assert listing[0]["security_profile"] == 1 and listing[0]["tls_version"] is None
    assert listing[0]["boot_status"] == "Accepted"
    assert listing[0]["connectors"] == [{"evse_id": 1, "connector_id": 1, "status": "Occupied"}]


async def test_sync_call_is_audited_before_and_after_without_its_payload(csms, station):
    station.answers["TriggerMessage"] = lambda payload: ACCEPTED
    await csms.post_call("CS-S", "TriggerMessage", TRIGGER_HEARTBEAT)
    entries = run_in_session(csms.ctx, lambda s: list(s.exec(
        select(AuditEntry).where(AuditEntry.target == "CS-S").order_by(AuditEntry.seq))))
    calls = [(e.action, json.loads(e.detail)) for e in entries if e.action.startswith("station.call")]
    assert calls == [("station.call", {"action": "TriggerMessage", "mode": "sync", "role": "operator"}),
                     ("station.call.result", {"action": "TriggerMessage", "status": "answered",
                                              "answer_status": "Accepted"})]


async def test_async_call_is_stored_sent_and_polled(csms, station):
    station.answers["TriggerMessage"] = lambda payload: ACCEPTED
    answer = await csms.post_call("CS-S", "TriggerMessage", TRIGGER_HEARTBEAT, mode="async")
    assert answer.status_code == 202
    url = answer.headers["Location"]
    assert url == answer.json()["url"]
    job = await _poll(csms, url, lambda j: j["status"] not in ("pending", "sent"))
    assert job["status"] == "answered" and job["response"] == ACCEPTED and job["attempts"] == 1


async def test_async_call_waits_for_the_station_to_connect(csms):
    password = csms.add_station("CS-LATER")
    answer = await csms.post_call("CS-LATER", "TriggerMessage", TRIGGER_HEARTBEAT, mode="async")
    assert answer.status_code == 202 and answer.json()["status"] == "pending"
    station = await csms.connect_raw("CS-LATER", password)
    station.answers["TriggerMessage"] = lambda payload: ACCEPTED
    await station.boot()
    assert (await station.next_call()).action == "TriggerMessage"
    job = await _poll(csms, answer.headers["Location"], lambda j: j["status"] == "answered")
    assert job["response"] == ACCEPTED


async def test_polling_another_stations_call_is_404(csms, station):
    station.answers["TriggerMessage"] = lambda payload: ACCEPTED
    job = (await csms.post_call("CS-S", "TriggerMessage", TRIGGER_HEARTBEAT, mode="async")).json()
    csms.add_station("CS-OTHER")
    answer = await csms.rest.get(f"/api/v1/stations/CS-OTHER/calls/{job['id']}", headers=csms.headers())
    assert answer.status_code == 404


async def test_accepted_station_reconnecting_without_boot_is_accepted(csms):
    password = csms.add_station("CS-RE")
    first = await csms.connect_raw("CS-RE", password)
    await first.boot()
    await first.close()
    await csms.until(lambda: csms.gateway.session("CS-RE") is None)
    second = await csms.connect_raw("CS-RE", password)
    frame = await second.call("StatusNotification", STATUS)  # P4 §5.3: no new BootNotification
    assert frame[0] == 3


async def test_pending_station_reconnecting_without_boot_is_still_refused(csms):
    password = csms.add_station("CS-PEND")
    set_boot_policy(csms.ctx, Actor("cli:test"), "CS-PEND", "Pending")
    first = await csms.connect_raw("CS-PEND", password)
    assert (await first.boot())["status"] == "Pending"
    await first.close()
    await csms.until(lambda: csms.gateway.session("CS-PEND") is None)
    second = await csms.connect_raw("CS-PEND", password)
    frame = await second.call("StatusNotification", STATUS)
    assert frame[:3] == [4, frame[1], "SecurityError"]


@pytest.mark.parametrize("request_id", [[7], {"id": 7}])
async def test_a_pending_stations_report_with_an_unhashable_request_id_is_refused_by_name(csms, caplog, request_id):
    """The boot gate looked the requestId up before the schema check: a list or an object was a
    TypeError, an InternalError with a traceback in the log for each frame the station sent."""
    password = csms.add_station("CS-PEND-R")
    set_boot_policy(csms.ctx, Actor("cli:test"), "CS-PEND-R", "Pending")
    raw = await csms.connect_raw("CS-PEND-R", password)
    assert (await raw.boot())["status"] == "Pending"
    report = {"requestId": request_id, "generatedAt": "2025-01-01T00:00:00Z", "seqNo": 0, "tbc": False}
    frame = await raw.call("NotifyReport", report)
    assert frame[:3] == [4, frame[1], "SecurityError"]
    assert not [record for record in caplog.records if record.exc_info]


async def _poll(csms, url, done, timeout: float = 5):
    async with asyncio.timeout(timeout):
        while True:
            job = (await csms.rest.get(url, headers=csms.headers())).json()
            if done(job):
                return job
            await asyncio.sleep(0.02)


async def test_a_handler_follow_up_call_goes_out_after_the_answer(sqlite_pki):
    # The ocpp library's trap (docs/architecture.md, "Traps of the ocpp library"): a handler
    # awaiting its own CSMS call would hold the station's answer back. A follow-up registered
    # with call.after runs once the answer is sent.
    outcomes = []

    async def data_transfer(call, payload):
        async def trigger():
            outcomes.append(await gateway.send_call(call.station_id, "TriggerMessage", TRIGGER_HEARTBEAT))
        call.after(trigger)
        return {"status": "Accepted"}

    async for made in open_csms(sqlite_pki, routes={**ROUTES, "DataTransfer": data_transfer}):
        gateway = made.gateway
        password = made.add_station("CS-F")
        station = await made.connect_raw("CS-F", password)
        await station.boot()
        station.answers["TriggerMessage"] = lambda payload: ACCEPTED
        frame = await station.call("DataTransfer", {"vendorId": "com.example"})
        assert frame[2] == {"status": "Accepted"}
        assert (await station.next_call()).action == "TriggerMessage"
        await made.until(lambda: bool(outcomes))
        assert outcomes[0].response == ACCEPTED


async def test_a_refusal_a_handler_does_not_answer_itself_is_a_callerror_naming_the_rule(sqlite_pki):
    from api.core.refusal import Refusal

    async def data_transfer(call, payload):
        raise Refusal("data_transfer.vendor", f"vendor {payload['vendorId']!r} is not known here")

    async for made in open_csms(sqlite_pki, routes={**ROUTES, "DataTransfer": data_transfer}):
        password = made.add_station("CS-R")
        station = await made.connect_raw("CS-R", password)
        await station.boot()
        frame = await station.call("DataTransfer", {"vendorId": "com.example"})
        assert frame[0] == 4 and frame[2:] == ["GenericError", "data_transfer.vendor: vendor 'com.example' is not "
                                               "known here", {"rule": "data_transfer.vendor"}]
        assert (await station.call("Heartbeat", {}))[0] == 3  # refused, not dropped: the session goes on
