"""O01 — Set display message: the CSMS sends SetDisplayMessage; the station's answer is kept with
the message: Accepted, NotSupportedMessageFormat (HTML on a text display), NotSupportedPriority,
NotSupportedState, Rejected. A time window the message could never be shown in (ending before it
starts, or already past) is refused before it leaves."""

from __future__ import annotations

import pytest
from core_support import answer, booted_station, command, eventually, get, received
from customer_support import display_messages, message, sent
from ocpp_support import csms  # noqa: F401 - fixture
from sqlmodel import select

from api.core.audit import run_in_session
from storage.audit import AuditEntry


async def test_o01_message_accepted_and_kept(csms):
    station = await booted_station(csms, "O01")
    body = message(10, "Welcome! 0.39 EUR/kWh", priority="InFront", language="en",
                   start_date_time="2025-06-01T00:00:00Z", end_date_time="2030-06-01T00:00:00Z")

    assert (await sent(csms, station, "SetDisplayMessage", {"message": body}))["status"] == "Accepted"

    (request,) = received(station, "SetDisplayMessage")
    assert request["message"] == {"id": 10, "priority": "InFront", "startDateTime": "2025-06-01T00:00:00Z",
                                  "endDateTime": "2030-06-01T00:00:00Z",
                                  "message": {"format": "UTF8", "content": "Welcome! 0.39 EUR/kWh", "language": "en"}}
    kept = (await display_messages(csms, "O01"))[10]
    assert (kept["status"], kept["origin"], kept["priority"], kept["content"], kept["format"], kept["language"]) == (
        "Accepted", "csms", "InFront", "Welcome! 0.39 EUR/kWh", "UTF8", "en")
    assert kept["start_at"].startswith("2025-06-01") and kept["end_at"].startswith("2030-06-01")
    assert station.display.messages[10]["message"]["content"] == "Welcome! 0.39 EUR/kWh"


@pytest.mark.parametrize(("status", "body", "script"), [
    ("NotSupportedMessageFormat", message(11, "<b>Hi</b>", fmt="HTML"), None),
    ("NotSupportedPriority", message(12, "Urgent", priority="AlwaysFront"), "priority"),
    ("NotSupportedState", message(13, "Out of order", state="Faulted"), "state"),
    ("Rejected", message(14, "Hello"), "rejected"),
])
async def test_o01_a_message_not_taken_is_kept_with_the_answer(csms, status, body, script):
    case = f"O01-{body['id']}"
    station = await booted_station(csms, case)
    if script == "priority":
        station.display.unsupported_priorities.add("AlwaysFront")
    elif script == "state":
        station.display.unsupported_states.add("Faulted")
    elif script == "rejected":
        answer(station, "SetDisplayMessage", {"status": "Rejected"})

    assert (await sent(csms, station, "SetDisplayMessage", {"message": body}))["status"] == status

    kept = (await display_messages(csms, case))[body["id"]]
    assert kept["status"] == status and station.display.messages == {}


async def test_o01_a_message_sent_as_a_job_is_kept_with_its_answer(csms):
    station = await booted_station(csms, "O01-JOB")
    stored = await csms.rest.post("/api/v1/stations/O01-JOB/commands/SetDisplayMessage?mode=job",
                                  json={"message": message(40, "queued")}, headers=csms.headers())
    assert stored.status_code == 202, stored.text
    assert (await display_messages(csms, "O01-JOB"))[40]["status"] in ("requested", "Accepted")

    async def answered():
        job = await get(csms, stored.headers["Location"])
        return job["status"] == "answered" and job
    assert (await eventually(answered))["result"]["status"] == "Accepted"
    assert (await display_messages(csms, "O01-JOB"))[40]["status"] == "Accepted"
    assert received(station, "SetDisplayMessage")[0]["message"]["id"] == 40


@pytest.mark.parametrize(("window", "problem"), [
    ({"start_date_time": "2030-06-01T00:00:00Z", "end_date_time": "2030-05-31T23:59:59Z"}, "must be after"),
    ({"start_date_time": "2030-06-01T00:00:00+02:00", "end_date_time": "2030-05-31T22:00:00Z"}, "must be after"),
    ({"end_date_time": "2020-01-01T00:00:00Z"}, "has passed"),
], ids=["backwards", "empty", "past"])
async def test_o01_a_window_the_message_can_never_be_shown_in_is_refused(csms, window, problem):
    # The station takes such a message (Accepted) and never shows it: the operator never learns.
    station = await booted_station(csms, "O01-W")
    typed = await command(csms, "O01-W", "SetDisplayMessage", {"message": message(20, "Closed", **window)})
    raw = await csms.post_call("O01-W", "SetDisplayMessage", {"message": {
        "id": 21, "priority": "NormalCycle", "message": {"format": "UTF8", "content": "Closed"},
        **{"startDateTime" if key.startswith("start") else "endDateTime": value for key, value in window.items()}}})

    for refused in (typed, raw):
        assert refused.status_code == 422 and refused.json()["rule"] == "call.display_message.window", refused.text
        assert problem in refused.json()["error"]
    assert received(station, "SetDisplayMessage") == [] and await display_messages(csms, "O01-W") == {}
    audited = run_in_session(csms.ctx, lambda s: list(s.exec(select(AuditEntry.outcome).where(
        AuditEntry.action == "station.call", AuditEntry.target == "O01-W"))))
    assert audited == ["refused", "refused"]


async def test_o01_the_messages_page_by_id_so_every_one_set_is_reachable(csms):
    station = await booted_station(csms, "O01-P")
    for message_id in (-3, 1, 7, 12, 40):
        body = message(message_id, f"note {message_id}", start_date_time="2025-06-01T00:00:00Z",
                       end_date_time="2099-06-01T00:00:00Z")
        assert (await sent(csms, station, "SetDisplayMessage", {"message": body}))["status"] == "Accepted"
    pages, after = [], None
    while True:
        page = await get(csms, "/api/v1/stations/O01-P/display-messages?limit=2"
                         + (f"&after_message_id={after}" if after is not None else ""))
        if not page:
            break
        pages.append([m["message_id"] for m in page])
        after = page[-1]["message_id"]
    assert pages == [[-3, 1], [7, 12], [40]]
