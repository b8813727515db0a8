"""The token store's operations (what REST and the CLI call), on SQLite and PostgreSQL: checks by
field, case-insensitive uniqueness, all-or-nothing import naming the row, upsert, export round
trip, one audit entry per import."""

from __future__ import annotations

import json

import pytest
from conftest import make_context
from sqlmodel import select

from api.core.audit import Actor, run_in_session
from api.core.refusal import Conflict, Refusal
from api.csms.authorization.service import ImportRefused, TokenFilter
from api.csms.authorization.token_records import FieldProblem
from api.operations import id_tokens
from storage.audit import AuditEntry, Outcome

OFFICER = Actor("cli:test", "officer")


@pytest.fixture
def store(tmp_path, db_url, monkeypatch):
    made = make_context(tmp_path, db_url, monkeypatch)
    yield made
    made.engine.dispose()


def _all(ctx) -> list[dict]:
    return id_tokens.list_tokens(ctx, TokenFilter())


def _audit(ctx, action: str) -> list[AuditEntry]:
    return run_in_session(ctx, lambda s: list(s.exec(select(AuditEntry).where(AuditEntry.action == action))))


def _rows(count: int, start: int = 0) -> list[dict]:
    return [{"id_token": f"04{i:08X}", "type": "ISO14443", "status": "Accepted", "local_list": "*"}
            for i in range(start, start + count)]


@pytest.mark.parametrize(("fields", "field"), [
    ({"id_token": "x" * 37, "type": "ISO14443"}, "id_token"),
    ({"id_token": "", "type": "ISO14443"}, "id_token"),
    ({"id_token": "A", "type": "Badge"}, "type"),
    ({"id_token": "A", "type": "ISO14443", "status": "Fine"}, "status"),
    ({"id_token": "A", "type": "ISO14443", "cache_expiry": "tomorrow"}, "cache_expiry"),
    ({"id_token": "A", "type": "ISO14443", "cache_expiry": "2030-01-01T00:00:00"}, "cache_expiry"),
    ({"id_token": "A", "type": "ISO14443", "evse_ids": [0]}, "evse_ids"),
    ({"id_token": "A", "type": "ISO14443", "language1": "x" * 9}, "language1"),
    ({"id_token": "A", "type": "ISO14443", "message_content": "hi"}, "message_format"),
    ({"id_token": "A", "type": "ISO14443", "group_type": "Central"}, "group_type"),
    ({"id_token": "A", "type": "ISO14443", "colour": "red"}, "colour"),
    ({"id_token": "A\n", "type": "ISO14443"}, "id_token"),
])
def test_a_bad_field_is_refused_by_name_and_audited(store, fields, field):
    with pytest.raises(FieldProblem) as refused:
        id_tokens.add_token(store, OFFICER, fields)
    assert refused.value.field == field and refused.value.rule == "id_token.field"
    assert _all(store) == []
    (entry,) = _audit(store, "id_token.add")
    assert entry.outcome == Outcome.REFUSED


def test_tokens_are_unique_per_type_case_insensitively(store):
    id_tokens.add_token(store, OFFICER, {"id_token": "04abcd", "type": "ISO14443"})
    id_tokens.add_token(store, OFFICER, {"id_token": "04ABCD", "type": "ISO15693"})
    with pytest.raises(Conflict) as refused:
        id_tokens.add_token(store, OFFICER, {"id_token": "04ABCD", "type": "ISO14443"})
    assert refused.value.rule == "id_token.exists"
    assert len(_all(store)) == 2


def test_change_and_delete(store):
    token = id_tokens.add_token(store, OFFICER, {"id_token": "A1", "type": "KeyCode", "group_id_token": "G"})
    changed = id_tokens.change_token(store, OFFICER, token["id"], {"status": "Blocked", "group_id_token": None})
    assert (changed["status"], changed["group_id_token"], changed["group_type"]) == ("Blocked", None, None)
    with pytest.raises(FieldProblem):
        id_tokens.change_token(store, OFFICER, token["id"], {"type": "Local"})
    id_tokens.delete_token(store, OFFICER, token["id"])
    assert _all(store) == []
    with pytest.raises(LookupError):
        id_tokens.delete_token(store, OFFICER, token["id"])
    assert [e.outcome for e in _audit(store, "id_token.change")] == [Outcome.SUCCESS, Outcome.REFUSED]


def test_an_import_with_one_bad_row_changes_nothing_and_names_the_row(store):
    id_tokens.add_token(store, OFFICER, {"id_token": "KEEP", "type": "Central", "status": "Blocked"})
    rows = _rows(10)
    rows[6]["status"] = "Maybe"
    rows.append({"id_token": "KEEP", "type": "Central"})   # would unblock KEEP
    with pytest.raises(ImportRefused) as refused:
        id_tokens.import_tokens(store, OFFICER, json.dumps(rows), "json")
    assert refused.value.details["problems"] == [{"row": 7, "field": "status",
                                                  "problem": refused.value.details["problems"][0]["problem"]}]
    assert "row 7: status" in str(refused.value)
    assert [(t["id_token"], t["status"]) for t in _all(store)] == [("KEEP", "Blocked")]
    (entry,) = _audit(store, "id_token.import")
    assert entry.outcome == Outcome.REFUSED


def test_the_same_token_twice_in_one_file_is_a_bad_row(store):
    text = "id_token,type\nAB,ISO14443\nab,ISO14443\n"
    with pytest.raises(ImportRefused) as refused:
        id_tokens.import_tokens(store, OFFICER, text, "csv")
    assert refused.value.details["problems"][0]["row"] == 2


def test_a_csv_with_an_unknown_column_is_refused(store):
    with pytest.raises(Refusal) as refused:
        id_tokens.import_tokens(store, OFFICER, "id_token,type,colour\nA,Central,red\n", "csv")
    assert "colour" in str(refused.value)


def test_five_thousand_rows_in_one_import_and_one_audit_entry(store):
    counts = id_tokens.import_tokens(store, OFFICER, json.dumps(_rows(5000)), "json")
    assert (counts.rows, counts.created, counts.updated) == (5000, 5000, 0)
    again = _rows(10)
    again[0]["status"] = "Blocked"
    counts = id_tokens.import_tokens(store, OFFICER, json.dumps({"tokens": again}), "json")
    assert (counts.created, counts.updated) == (0, 10)
    assert len(id_tokens.list_tokens(store, TokenFilter(status="Blocked"))) == 1
    entries = _audit(store, "id_token.import")
    assert [json.loads(e.detail) if isinstance(e.detail, str) else e.detail for e in entries][0]["created"] == 5000
    assert len(entries) == 2


def test_an_upsert_replaces_the_whole_token(store):
    id_tokens.add_token(store, OFFICER, {"id_token": "A", "type": "Central", "group_id_token": "G",
                                         "language1": "fr"})
    id_tokens.import_tokens(store, OFFICER, "id_token,type,status\na,Central,NoCredit\n", "csv")
    (token,) = _all(store)
    assert (token["id_token"], token["status"], token["group_id_token"], token["language1"]) == \
        ("a", "NoCredit", None, None)


@pytest.mark.parametrize("kind", ["csv", "json"])
def test_export_reads_back_as_an_import(store, kind):
    id_tokens.import_tokens(store, OFFICER, json.dumps([
        {"id_token": "A", "type": "ISO14443", "evse_ids": [1, 3], "cache_expiry": "2030-01-01T00:00:00Z",
         "message_format": "UTF8", "message_content": "Hallo, \"Welt\"", "group_id_token": "G", "local_list": "CS-*"},
        {"id_token": "B", "type": "eMAID", "status": "Blocked"}]), "json")
    before = _all(store)
    text = id_tokens.export_tokens(store, TokenFilter(), kind)
    counts = id_tokens.import_tokens(store, OFFICER, text, kind)
    assert (counts.rows, counts.updated) == (2, 2)
    assert [{k: v for k, v in t.items()} for t in _all(store)] == before
