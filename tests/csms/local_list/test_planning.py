"""Block D without a station: which tokens a station's list gets (the selector), what a
differential update sends, versions, and the cut into messages within ItemsPerMessage and
BytesPerMessage."""

from __future__ import annotations

import json

import pytest

from api.core.audit import Actor, run_in_session
from api.core.refusal import Refusal
from api.csms.local_list import service
from api.csms.local_list.service import DIFFERENTIAL, FULL, Entry
from api.csms.local_list.splitting import frame_bytes, split
from api.operations import id_tokens

pytestmark = pytest.mark.fast
OFFICER = Actor("cli:test", "officer")


def _add(ctx, value: str, selector: str | None = "*", **fields) -> dict:
    return id_tokens.add_token(ctx, OFFICER, {"id_token": value, "type": "ISO14443", "local_list": selector, **fields})


def _planned(ctx, station: str, update_type: str) -> list[Entry]:
    return run_in_session(ctx, lambda s: service.planned_entries(s, station, update_type))


def test_the_selector_chooses_the_stations(ctx):
    _add(ctx, "EVERYWHERE", "*")
    _add(ctx, "DEPOT-A", "DEPOT-A-*")
    _add(ctx, "ONLINE-ONLY", None)
    assert [e.id_token for e in _planned(ctx, "DEPOT-A-01", FULL)] == ["DEPOT-A", "EVERYWHERE"]
    assert [e.id_token for e in _planned(ctx, "DEPOT-B-01", FULL)] == ["EVERYWHERE"]
    assert [e.id_token for e in _planned(ctx, "depot-a-01", FULL)] == ["EVERYWHERE"]  # identities are case-sensitive


def test_a_differential_update_sends_what_changed_and_removals(ctx):
    kept = _add(ctx, "KEPT")
    changed = _add(ctx, "CHANGED")
    gone = _add(ctx, "GONE")
    run_in_session(ctx, lambda s: service.record_accepted(s, "CS-1", FULL, 1, _planned(ctx, "CS-1", FULL)))
    assert _planned(ctx, "CS-1", DIFFERENTIAL) == []
    id_tokens.change_token(ctx, OFFICER, changed["id"], {"status": "Blocked"})
    id_tokens.delete_token(ctx, OFFICER, gone["id"])
    _add(ctx, "NEW")
    plan = {e.id_token: e.info for e in _planned(ctx, "CS-1", DIFFERENTIAL)}
    assert plan == {"CHANGED": {"status": "Blocked"}, "NEW": {"status": "Accepted"}, "GONE": None}
    assert kept["id_token"] not in plan


def test_versions_a_full_update_goes_above_the_station_s_reported_one(ctx):
    run_in_session(ctx, lambda s: service.record_reported_version(s, "CS-1", 41))
    assert run_in_session(ctx, lambda s: service.next_version(s, "CS-1", FULL)) == 42
    assert run_in_session(ctx, lambda s: service.next_version(s, "CS-1", DIFFERENTIAL)) == 1


def _entries(count: int, message: str = "") -> list[Entry]:
    info = {"status": "Accepted", **({"personalMessage": {"format": "UTF8", "content": message}} if message else {})}
    return [Entry(f"TOKEN-{i:04d}", "ISO14443", info) for i in range(count)]


def test_split_by_items_first_full_then_differential_with_rising_versions():
    messages = split(FULL, 5, _entries(10), items=4, size=100_000)
    assert [(m.update_type, m.version, len(m.entries)) for m in messages] == [
        (FULL, 5, 4), (DIFFERENTIAL, 6, 4), (DIFFERENTIAL, 7, 2)]
    assert [e for m in messages for e in m.entries] == _entries(10)


def test_split_by_bytes_every_frame_within_the_limit():
    entries = _entries(30, "x" * 100)
    messages = split(DIFFERENTIAL, 1, entries, items=1000, size=1200)
    assert len(messages) > 3
    for message in messages:
        frame = json.dumps([2, "0" * 36, "SendLocalList", message.payload()], separators=(",", ":"))
        assert len(frame.encode()) <= 1200 and frame_bytes(message.payload()) == len(frame.encode())
    assert sum(len(m.entries) for m in messages) == 30


def test_an_empty_full_update_is_one_message_without_a_list_and_an_empty_differential_none():
    (message,) = split(FULL, 3, [], items=10, size=1000)
    assert message.payload() == {"versionNumber": 3, "updateType": FULL}
    assert split(DIFFERENTIAL, 3, [], items=10, size=1000) == []


def test_versions_past_32_bits_a_full_update_starts_again_at_1_and_a_differential_is_refused():
    # The station at 2147483645: a full update in three messages would need 2147483646..2147483648.
    messages = split(FULL, 2147483646, _entries(10), items=4, size=100_000)
    assert [(m.update_type, m.version) for m in messages] == [(FULL, 1), (DIFFERENTIAL, 2), (DIFFERENTIAL, 3)]
    assert [m.version for m in split(FULL, 2147483646, _entries(8), items=4, size=100_000)] == [
        2147483646, 2147483647]
    with pytest.raises(Refusal) as refused:
        split(DIFFERENTIAL, 2147483647, _entries(5), items=4, size=100_000)
    assert refused.value.rule == "local_list.version" and "2147483648" in str(refused.value)


def test_an_entry_larger_than_bytes_per_message_is_refused_by_name():
    with pytest.raises(Refusal) as refused:
        split(FULL, 1, _entries(1, "x" * 500), items=10, size=300)
    assert refused.value.rule == "local_list.entry_too_large" and "TOKEN-0000" in str(refused.value)


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_what_a_station_accepted_is_kept_on_both_databases(tmp_path, monkeypatch, request, db):
    from conftest import make_context
    url = f"sqlite:///{tmp_path / 'll.db'}" if db == "sqlite" else request.getfixturevalue("postgres_url")
    store = make_context(tmp_path, url, monkeypatch)
    try:
        _add(store, "A")
        _add(store, "B")
        full = _planned(store, "CS-1", FULL)
        run_in_session(store, lambda s: service.record_accepted(s, "CS-1", FULL, 4, full))
        removal = [Entry("a", "ISO14443", None)]
        run_in_session(store, lambda s: service.record_accepted(s, "CS-1", DIFFERENTIAL, 5, removal))
        view = run_in_session(store, lambda s: service.view(s, "CS-1"))
        assert view["version"] == 5
        assert view["entries"] == [{"idToken": {"idToken": "B", "type": "ISO14443"},
                                    "idTokenInfo": {"status": "Accepted"}}]
        assert [e.id_token for e in _planned(store, "CS-1", DIFFERENTIAL)] == ["A"]
    finally:
        store.engine.dispose()
