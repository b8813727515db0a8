"""REST for id tokens: CRUD with roles and named refusals, bulk import (CSV and JSON, all or
nothing, per-row problems, size limits), export, master-pass groups — each change audited."""

from __future__ import annotations

import csv
import io
import json

import pytest
from rest_support import api, sqlite_api  # noqa: F401 - fixtures

from storage.audit import Outcome

BASE = "/api/v1/id-tokens"


def _import(api, body: str, content_type: str, role: str = "operator"):
    return api.client.post(f"{BASE}/import", content=body.encode(),
                           headers={**api.headers(role), "Content-Type": content_type})


def test_create_read_update_delete(sqlite_api):
    api = sqlite_api
    created = api.client.post(BASE, json={"id_token": "04AB", "type": "ISO14443", "evse_ids": [1, 2],
                                          "cache_expiry": "2030-01-01T00:00:00+01:00"}, headers=api.headers("operator"))
    assert created.status_code == 201, created.text
    token = created.json()
    assert (token["status"], token["evse_ids"], token["cache_expiry"]) == ("Accepted", [1, 2], "2029-12-31T23:00:00Z")

    assert api.client.get(f"{BASE}/{token['id']}", headers=api.headers("auditor")).json() == token
    changed = api.client.patch(f"{BASE}/{token['id']}", json={"status": "Blocked", "evse_ids": None},
                               headers=api.headers("officer"))
    assert changed.status_code == 200 and (changed.json()["status"], changed.json()["evse_ids"]) == ("Blocked", None)
    assert api.client.delete(f"{BASE}/{token['id']}", headers=api.headers("operator")).status_code == 200
    assert api.client.get(f"{BASE}/{token['id']}", headers=api.headers("auditor")).status_code == 404
    assert [e.outcome for e in api.audit("id_token.add")] == [Outcome.SUCCESS]
    assert len(api.audit("id_token.change")) == len(api.audit("id_token.delete")) == 1


def test_refusals_are_named(sqlite_api):
    api = sqlite_api
    body = {"id_token": "04AB", "type": "ISO14443"}
    assert api.client.post(BASE, json=body, headers=api.headers("operator")).status_code == 201
    duplicate = api.client.post(BASE, json={**body, "id_token": "04ab"}, headers=api.headers("operator"))
    assert duplicate.status_code == 409 and duplicate.json()["rule"] == "id_token.exists"
    too_long = api.client.post(BASE, json={**body, "id_token": "x" * 37}, headers=api.headers("operator"))
    assert too_long.status_code == 422 and too_long.json()["field"] == "body.id_token"
    half_message = api.client.post(BASE, json={**body, "id_token": "B", "message_content": "hi"},
                                   headers=api.headers("operator"))
    assert half_message.status_code == 422 and half_message.json()["rule"] == "id_token.field"
    assert half_message.json()["field"] == "message_format"
    assert api.client.post(BASE, json={**body, "id_token": "C"}, headers=api.headers("auditor")).status_code == 403


def test_list_filters_and_pages(sqlite_api):
    api = sqlite_api
    rows = [{"id_token": f"T{i:03d}", "type": "ISO14443", "status": "Blocked" if i % 3 == 0 else "Accepted"}
            for i in range(30)]
    assert _import(api, json.dumps(rows), "application/json").status_code == 200
    page = api.client.get(BASE, params={"status": "Blocked", "limit": 4, "offset": 2}, headers=api.headers("auditor"))
    assert [t["id_token"] for t in page.json()] == ["T006", "T009", "T012", "T015"]
    prefix = api.client.get(BASE, params={"id_token": "t02"}, headers=api.headers("auditor")).json()
    assert len(prefix) == 10


def test_csv_import_all_or_nothing_with_rows_named(sqlite_api):
    api = sqlite_api
    good = "id_token,type,status,evse_ids\nA1,ISO14443,Accepted,1;2\nA2,KeyCode,,\n"
    answer = _import(api, good, "text/csv")
    assert answer.status_code == 200 and answer.json() == {"rows": 2, "created": 2, "updated": 0}
    bad = "id_token,type,status\nA1,ISO14443,Blocked\nA3,Badge,Accepted\nA4,ISO14443,Nope\n"
    refused = _import(api, bad, "text/csv")
    assert refused.status_code == 422
    body = refused.json()
    assert body["rule"] == "id_token.import" and body["bad_rows"] == 2
    assert [(p["row"], p["field"]) for p in body["problems"]] == [(2, "type"), (3, "status")]
    tokens = api.client.get(BASE, headers=api.headers("auditor")).json()
    assert [(t["id_token"], t["status"], t["evse_ids"]) for t in tokens] == [("A1", "Accepted", [1, 2]),
                                                                              ("A2", "Accepted", None)]
    assert [e.outcome for e in api.audit("id_token.import")] == [Outcome.SUCCESS, Outcome.REFUSED]


def test_import_content_types_and_size(sqlite_api):
    api = sqlite_api
    assert _import(api, "id_token,type\n", "text/plain").status_code == 415
    assert _import(api, "{not json", "application/json").status_code == 422
    assert _import(api, "[]", "application/json", role="auditor").status_code == 403
    huge = api.client.post(f"{BASE}/import", content=b"x" * 10,
                           headers={**api.headers("operator"), "Content-Type": "text/csv",
                                    "Content-Length": str(17 * 1024 * 1024)})
    assert huge.status_code == 413


def test_thousands_of_rows_in_one_request(sqlite_api):
    api = sqlite_api
    text = "id_token,type\n" + "".join(f"04{i:08X},ISO14443\n" for i in range(5000))
    answer = _import(api, text, "text/csv")
    assert answer.status_code == 200 and answer.json()["created"] == 5000
    (entry,) = api.audit("id_token.import")
    assert '"created": 5000' in entry.detail or json.loads(entry.detail)["created"] == 5000


@pytest.mark.parametrize(("kind", "media"), [("csv", "text/csv"), ("json", "application/json")])
def test_export_round_trip(sqlite_api, kind, media):
    api = sqlite_api
    api.client.post(BASE, json={"id_token": "A", "type": "eMAID", "group_id_token": "G", "language1": "nl",
                                "local_list": "*"}, headers=api.headers("operator"))
    exported = api.client.get(f"{BASE}/export", params={"format": kind}, headers=api.headers("auditor"))
    assert exported.status_code == 200 and exported.headers["content-type"].startswith(media)
    again = _import(api, exported.text, media)
    assert again.json() == {"rows": 1, "created": 0, "updated": 1}


def test_a_csv_export_shows_formulas_as_text_and_imports_back_unchanged(sqlite_api):
    """An officer opens the export in a spreadsheet: a cell that would run there is escaped."""
    api = sqlite_api
    hostile = {"id_token": "-1+2", "type": "KeyCode", "group_id_token": "@SUM(A1)", "message_format": "UTF8",
               "message_content": '=HYPERLINK("http://attacker.example/")'}
    created = api.client.post(BASE, json=hostile, headers=api.headers("operator"))
    assert created.status_code == 201, created.text
    exported = api.client.get(f"{BASE}/export", params={"format": "csv"}, headers=api.headers("auditor"))
    (row,) = list(csv.DictReader(io.StringIO(exported.text)))
    assert [row[name] for name in ("id_token", "group_id_token", "message_content")] == \
        ["'-1+2", "'@SUM(A1)", "'=HYPERLINK(\"http://attacker.example/\")"]
    assert _import(api, exported.text, "text/csv").json() == {"rows": 1, "created": 0, "updated": 1}
    again = api.client.get(f"{BASE}/{created.json()['id']}", headers=api.headers("auditor")).json()
    assert {name: again[name] for name in hostile} == hostile


def test_master_pass_groups(sqlite_api):
    api = sqlite_api
    api.register_station("CS-1")
    for body in ({"group_id_token": "MP"}, {"group_id_token": "MP-1", "station_id": "CS-1"}):
        answer = api.client.put(f"{BASE}/master-pass-groups", json=body, headers=api.headers("operator"))
        assert answer.status_code == 200
    assert api.client.get(f"{BASE}/master-pass-groups", headers=api.headers("auditor")).json() == \
        {"*": "MP", "CS-1": "MP-1"}
    cleared = api.client.put(f"{BASE}/master-pass-groups", json={"group_id_token": None, "station_id": "CS-1"},
                             headers=api.headers("operator"))
    assert cleared.json() == {"*": "MP"}
    assert len(api.audit("id_token.master_pass_group")) == 3


@pytest.mark.parametrize(("text", "problem"), [
    ("id_token,type,message_content\nA,ISO14443,ok\nB,ISO14443," + "x" * 200_000 + "\n", "field limit"),
    ("id_token,type\nA,ISO14443\nB\rC,ISO14443\n", "new-line character"),
])
def test_a_csv_file_the_reader_cannot_read_is_refused_with_where(sqlite_api, text, problem):
    """A cell beyond the csv module's 128 KiB, or a bare carriage return inside one, was a 500
    and a traceback in the log: now a 422 naming the row and the reason, nothing stored."""
    api = sqlite_api
    refused = _import(api, text, "text/csv")
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["rule"] == "id_token.field" and body["row"] == 2 and problem in body["error"]
    assert api.client.get(BASE, headers=api.headers("auditor")).json() == []
    assert [e.outcome for e in api.audit("id_token.import")] == [Outcome.REFUSED]


def test_a_csv_column_given_twice_is_refused(sqlite_api):
    """The reader kept the last of two same-named columns: a file with `type` twice was stored
    with the second type and the first dropped unseen."""
    api = sqlite_api
    refused = _import(api, "id_token,type,status,type\nA,ISO14443,Accepted,KeyCode\n", "text/csv")
    assert refused.status_code == 422 and refused.json()["field"] == "type"
    assert "twice" in refused.json()["error"]
    assert api.client.get(BASE, headers=api.headers("auditor")).json() == []


@pytest.mark.parametrize(("body", "field"), [
    # An empty station id set the group of every station.
    ({"group_id_token": "MP", "station_id": ""}, "station_id"),
    # A control character no token's groupIdToken may hold: a group no token could ever match.
    ({"group_id_token": "M\x01P"}, "group_id_token"),
    # C1 controls too (U+0085 NEL breaks a line, U+009B is a terminal's CSI): they were stored.
    ({"group_id_token": "M\x85P"}, "group_id_token"),
    ({"group_id_token": "M\x9bP"}, "group_id_token"),
])
def test_a_master_pass_group_that_could_not_mean_what_was_asked_is_refused(sqlite_api, body, field):
    api = sqlite_api
    refused = api.client.put(f"{BASE}/master-pass-groups", json=body, headers=api.headers("operator"))
    assert refused.status_code == 422 and refused.json()["field"] == field, refused.text
    assert api.client.get(f"{BASE}/master-pass-groups", headers=api.headers("auditor")).json() == {}
    assert [e.outcome for e in api.audit("id_token.master_pass_group")] == [Outcome.REFUSED]


def test_a_master_pass_group_for_a_station_not_registered_is_refused(sqlite_api):
    # Stored, it answered 200 and held a group no station reads: a misspelt id looked done.
    api = sqlite_api
    refused = api.client.put(f"{BASE}/master-pass-groups", json={"group_id_token": "MP", "station_id": "CS-9"},
                             headers=api.headers("operator"))
    assert refused.status_code == 404 and "CS-9" in refused.json()["error"], refused.text
    assert api.client.get(f"{BASE}/master-pass-groups", headers=api.headers("auditor")).json() == {}
    assert [e.outcome for e in api.audit("id_token.master_pass_group")] == [Outcome.REFUSED]


def test_what_an_import_or_a_filter_would_have_ignored_is_refused(sqlite_api):
    """A key beside "tokens" in a JSON import was dropped unread, and a filter value no token can
    have ("blocked" for Blocked) answered an empty list or export with 200."""
    api = sqlite_api
    document = {"tokens": [{"id_token": "A", "type": "ISO14443"}], "replace_all": True}
    refused = _import(api, json.dumps(document), "application/json")
    assert refused.status_code == 422 and refused.json()["field"] == "replace_all", refused.text
    assert api.client.get(BASE, headers=api.headers("auditor")).json() == []
    for route in (BASE, f"{BASE}/export"):
        for query in ({"status": "blocked"}, {"type": "RFID"}):
            answer = api.client.get(route, params=query, headers=api.headers("auditor"))
            assert answer.status_code == 422 and answer.json()["field"] == f"query.{next(iter(query))}", answer.text


def test_a_null_status_does_not_unblock_a_token(sqlite_api):
    """PATCH's null clears a field, and a cleared status was its default, Accepted: a client
    sending the whole token with nulls for "unchanged" unblocked it."""
    api = sqlite_api
    token = api.client.post(BASE, json={"id_token": "STOLEN", "type": "ISO14443", "status": "Blocked"},
                            headers=api.headers("operator")).json()
    refused = api.client.patch(f"{BASE}/{token['id']}", json={"status": None, "language1": None},
                               headers=api.headers("operator"))
    assert refused.status_code == 422 and refused.json()["field"] == "status", refused.text
    assert api.client.get(f"{BASE}/{token['id']}", headers=api.headers("auditor")).json()["status"] == "Blocked"
    assert [e.outcome for e in api.audit("id_token.change")] == [Outcome.REFUSED]


def test_a_csv_column_name_holding_a_nul_is_refused_and_audited(api):
    """Echoed as an unknown column, the NUL went into the refusal's audit entry, which PostgreSQL
    cannot store: the refusal went unaudited there."""
    refused = _import(api, "id_token,type,sta\x00tus\nA,ISO14443,Blocked\n", "text/csv")
    assert refused.status_code == 422 and "NUL" in refused.json()["error"], refused.text
    assert "\x00" not in refused.text and "\\u0000" not in refused.text
    assert [e.outcome for e in api.audit("id_token.import")] == [Outcome.REFUSED]


@pytest.mark.parametrize("field", ["id_token", "group_id_token", "language1", "message_content", "local_list"])
@pytest.mark.parametrize("c1", ["\x85", "\x9b"], ids=["NEL", "CSI"])
def test_a_c1_control_character_in_a_token_field_is_refused(sqlite_api, field, c1):
    """C0 controls were refused and C1 ones (NEL, CSI) stored, to be echoed by the CLI's listing
    and sent to stations in local lists."""
    api = sqlite_api
    body = {"id_token": "04AB", "type": "ISO14443", "message_format": "UTF8", "message_content": "hi"}
    body[field] = f"A{c1}B"
    refused = api.client.post(BASE, json=body, headers=api.headers("operator"))
    assert refused.status_code == 422 and refused.json()["field"] == field, refused.text
    assert "control characters" in refused.json()["error"]
    imported = _import(api, json.dumps([body]), "application/json")
    assert imported.status_code == 422 and imported.json()["problems"][0]["field"] == field, imported.text
    assert api.client.get(BASE, headers=api.headers("auditor")).json() == []


@pytest.mark.parametrize("value", ["\u0130" * 36, "04AB\u0130" + "0" * 31], ids=["all-dotted-I", "one-dotted-I"])
def test_an_id_token_longer_than_its_column_in_lower_case_is_refused_by_name(api, value):
    """U+0130 (İ) is two characters in lower case, the form a token is looked up by: 36 of them
    were stored on SQLite, and on PostgreSQL refused as an unstorable value naming neither the
    field nor, in an import, the row."""
    refused = api.client.post(BASE, json={"id_token": value, "type": "ISO14443"}, headers=api.headers("operator"))
    assert refused.status_code == 422 and refused.json()["field"] == "id_token", refused.text
    rows = [{"id_token": "OK", "type": "ISO14443"}, {"id_token": value, "type": "ISO14443"}]
    imported = _import(api, json.dumps(rows), "application/json")
    assert imported.status_code == 422, imported.text
    assert [(p["row"], p["field"]) for p in imported.json()["problems"]] == [(2, "id_token")]
    assert api.client.get(BASE, headers=api.headers("auditor")).json() == []
