"""Reading the audit log over REST and checking its hash chain."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from rest_support import api, sqlite_api  # noqa: F401 - fixtures
from sqlalchemy import text


def _entries(api, query: str = "", role: str = "auditor") -> dict:
    answer = api.client.get(f"/api/v1/audit{query}", headers=api.headers(role))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_entries_are_newest_first_with_actor_and_filters(api):
    api.register_station("CS-0300")
    api.client.post("/api/v1/stations", json={"id": "CS-0300"}, headers=api.headers("officer"))

    page = _entries(api, "?action=station.add")
    assert [(e["actor"], e["outcome"], e["target"]) for e in page["entries"]] == [
        (api.actor("officer"), "refused", "CS-0300"), (api.actor("operator"), "success", "CS-0300")]
    assert page["entries"][0]["detail"]["rule"] == "station.exists"

    mine = _entries(api, f"?actor={api.actor('operator')}")["entries"]
    assert [e["action"] for e in mine] == ["station.add"]
    api.register_station("CS-0301")
    assert {e["target"] for e in _entries(api, "?target=CS-0301")["entries"]} == {"CS-0301"}
    assert len(_entries(api, "?target=CS-0300")["entries"]) == 2
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    assert _entries(api, "?since=" + future.replace("+", "%2B"))["entries"] == []


def test_paging_walks_back_without_overlap(sqlite_api):
    for n in range(5):
        sqlite_api.register_station(f"CS-031{n}")
    seen, before = [], ""
    while True:
        page = _entries(sqlite_api, f"?action=station.add&limit=2{before}")
        seen += [e["target"] for e in page["entries"]]
        if page["next_before"] is None:
            break
        before = f"&before={page['next_before']}"
    assert seen == [f"CS-031{n}" for n in reversed(range(5))]


def test_since_needs_a_time_zone(sqlite_api):
    answer = sqlite_api.client.get("/api/v1/audit?since=2024-01-01T00:00:00", headers=sqlite_api.headers("auditor"))
    assert answer.status_code == 422 and answer.json()["field"] == "query.since"


def test_verify_reports_a_sound_chain_then_the_tampered_entry(api):
    api.register_station("CS-0320")
    report = api.client.get("/api/v1/audit/verify", headers=api.headers("auditor")).json()
    assert report["ok"] is True and report["entries"] >= 4  # three token creations and the station
    assert report["first_bad_seq"] is None and len(report["head_hash"]) == 64

    [entry] = api.audit("station.add", "CS-0320")
    with api.ctx.engine.begin() as connection:
        connection.execute(text("UPDATE audit_entry SET actor = 'cli:nobody' WHERE seq = :seq"), {"seq": entry.seq})
    report = api.client.get("/api/v1/audit/verify", headers=api.headers("officer")).json()
    assert report["ok"] is False and report["first_bad_seq"] == entry.seq
    assert "does not match" in report["problem"]


def test_verify_names_an_entry_that_cannot_be_read(sqlite_api):
    sqlite_api.register_station("CS-0321")
    [entry] = sqlite_api.audit("station.add", "CS-0321")
    with sqlite_api.ctx.engine.begin() as connection:
        connection.execute(text("UPDATE audit_entry SET detail = CAST(X'FF22' AS TEXT) WHERE seq = :seq"),
                           {"seq": entry.seq})
    answer = sqlite_api.client.get("/api/v1/audit/verify", headers=sqlite_api.headers("auditor"))
    assert answer.status_code == 200, answer.text  # was 503 "database unavailable"
    report = answer.json()
    assert report["ok"] is False and report["first_bad_seq"] == entry.seq and "cannot be read" in report["problem"]
