"""Reading transactions and meter values over REST: filters, paging, one transaction with its
events, gaps and meter values, meter values as JSON pages and streamed CSV, roles."""

from __future__ import annotations

import csv
import io

import pytest
from rest_support import api, sqlite_api  # noqa: F401 - fixtures
from sqlmodel import delete

from api.core.audit import run_in_session
from api.csms.transactions import service
from api.csms.transactions.handlers import read_event
from storage.meter_values import MeterReading

SIGNED = {"signedMeterData": "PD94bWwgdmVyc2lvbj0iMS4wIj8+\r\nAA==", "signingMethod": "ECDSA-secp256r1-SHA256",
          "encodingMethod": "OCMF", "publicKey": "MFkwEwYH/+=="}


def _event(ctx, station_id: str, tx: str, event_type: str, seq_no: int, at: str, wh: float, **extra) -> None:
    sampled = {"value": wh, **({"signedMeterValue": SIGNED} if extra.pop("signed", False) else {})}
    payload = {"eventType": event_type, "timestamp": at, "triggerReason": "MeterValuePeriodic", "seqNo": seq_no,
               "transactionInfo": {"transactionId": tx}, "evse": {"id": 1, "connectorId": 1},
               "meterValue": [{"timestamp": at, "sampledValue": [
                   sampled, {"value": 230.1, "measurand": "Voltage", "phase": "L1-N", "unitOfMeasure": {"unit": "V"}}]}],
               **extra}
    run_in_session(ctx, lambda s: service.record(s, station_id, read_event(payload)))


def _charge(a) -> None:
    token = {"idToken": "04A1B2C3", "type": "ISO14443"}
    _event(a.ctx, "CS-1", "tx-1", "Started", 0, "2025-06-01T12:00:00Z", 1000, idToken=token, signed=True)
    _event(a.ctx, "CS-1", "tx-1", "Updated", 3, "2025-06-01T12:30:00Z", 4000)
    _event(a.ctx, "CS-1", "tx-1", "Ended", 4, "2025-06-01T13:00:00Z", 6000, signed=True)
    _event(a.ctx, "CS-2", "tx-1", "Started", 0, "2025-06-02T08:00:00Z", 50)


def test_transactions_filtered_paged_and_one_in_detail(api):
    _charge(api)
    get = lambda path: api.client.get(path, headers=api.headers("auditor"))  # noqa: E731
    every = get("/api/v1/transactions").json()
    assert [(t["station_id"], t["state"]) for t in every["transactions"]] == [("CS-2", "ongoing"), ("CS-1", "ended")]
    assert [t["station_id"] for t in get("/api/v1/transactions?state=ended").json()["transactions"]] == ["CS-1"]
    assert [t["station_id"] for t in get("/api/v1/transactions?id_token=04A1B2C3").json()["transactions"]] == ["CS-1"]
    since = get("/api/v1/transactions?since=2025-06-02T00:00:00Z").json()["transactions"]
    assert [t["station_id"] for t in since] == ["CS-2"]
    first = get("/api/v1/transactions?limit=1").json()
    assert len(first["transactions"]) == 1 and first["next_before"] is not None
    rest = get(f"/api/v1/transactions?limit=1&before={first['next_before']}").json()
    assert [t["station_id"] for t in rest["transactions"]] == ["CS-1"] and rest["next_before"] is None

    detail = get("/api/v1/transactions/CS-1/tx-1")
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert (body["energy_wh"], body["seq_missing"], body["missing_seq_nos"]) == (5000, 2, [1, 2])
    assert [e["seq_no"] for e in body["event_list"]] == [0, 3, 4]
    signed = [m for m in body["meter_values"] if m["signed_meter_data"]]
    assert [m["signed_meter_data"] for m in signed] == [SIGNED["signedMeterData"]] * 2
    assert get("/api/v1/transactions/CS-1/nope").status_code == 404


def test_meter_values_as_json_pages_and_as_csv(sqlite_api):
    _charge(sqlite_api)
    get = lambda path, **kw: sqlite_api.client.get(path, headers=sqlite_api.headers("operator"), **kw)  # noqa: E731
    page = get("/api/v1/meter-values?station_id=CS-1&measurand=Energy.Active.Import.Register&limit=2").json()
    assert [m["value"] for m in page["meter_values"]] == [1000, 4000] and page["next_after"]
    more = get(f"/api/v1/meter-values?station_id=CS-1&measurand=Energy.Active.Import.Register&limit=2"
               f"&after={page['next_after']}").json()
    assert [m["value"] for m in more["meter_values"]] == [6000] and more["next_after"] is None
    # A page ends with a whole reading: the first reading's two values, though the limit is one.
    whole = get("/api/v1/meter-values?station_id=CS-1&limit=1").json()
    assert [(m["value"], m["position"]) for m in whole["meter_values"]] == [(1000, 0), (230.1, 1)]
    assert len({m["id"] for m in whole["meter_values"]}) == 1 and whole["next_after"]
    in_tx = get("/api/v1/meter-values?station_id=CS-2&transaction_id=tx-1").json()["meter_values"]
    assert {m["station_id"] for m in in_tx} == {"CS-2"} and len(in_tx) == 2
    ranged = get("/api/v1/meter-values?since=2025-06-01T12:15:00Z&until=2025-06-01T13:00:00Z").json()
    assert [m["value"] for m in ranged["meter_values"]] == [4000, 230.1]

    as_csv = sqlite_api.client.get("/api/v1/meter-values?station_id=CS-1",
                                   headers={**sqlite_api.headers("operator"), "Accept": "text/csv"})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(table) == 6 and table[0]["signed_meter_data"] == SIGNED["signedMeterData"]
    assert get("/api/v1/meter-values?format=csv").text.count("\n") > 6


@pytest.mark.parametrize("query", ["format=csv&limit=2", "format=csv&after=bogus", "limit=2"])
def test_a_csv_export_asked_for_a_page_is_refused_by_name(sqlite_api, query):
    """Paging was ignored with CSV: a client asking for 2 rows (or after a point) got the whole
    range, an invalid `after` included, with a 200."""
    _event(sqlite_api.ctx, "CS-1", "T-1", "Started", 0, "2025-06-01T12:00:00Z", 1000)
    refused = sqlite_api.client.get(f"/api/v1/meter-values?station_id=CS-1&{query}",
                                    headers={**sqlite_api.headers("auditor"), "Accept": "text/csv"})
    assert refused.status_code == 422 and refused.json()["rule"] == "query.csv_paging", refused.text
    assert refused.json()["field"] in ("query.limit", "query.after")


def test_meter_values_csv_shows_a_stations_formula_as_text_and_numbers_as_numbers(sqlite_api):
    signed = {**SIGNED, "signedMeterData": "+cmd|' /C calc'!A0"}
    payload = {"eventType": "Started", "timestamp": "2025-06-01T12:00:00Z", "triggerReason": "CablePluggedIn",
               "seqNo": 0, "transactionInfo": {"transactionId": "tx-f"}, "evse": {"id": 1, "connectorId": 1},
               "meterValue": [{"timestamp": "2025-06-01T12:00:00Z", "sampledValue": [
                   {"value": 10, "signedMeterValue": signed},
                   {"value": -5, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "@W"}}]}]}
    run_in_session(sqlite_api.ctx, lambda s: service.record(s, "CS-F", read_event(payload)))
    as_csv = sqlite_api.client.get("/api/v1/meter-values?station_id=CS-F&format=csv",
                                   headers=sqlite_api.headers("operator"))
    first, second = csv.DictReader(io.StringIO(as_csv.text))
    assert first["signed_meter_data"] == "'" + signed["signedMeterData"]
    assert (float(second["value"]), second["unit"]) == (-5, "'@W")
    as_json = sqlite_api.client.get("/api/v1/meter-values?station_id=CS-F", headers=sqlite_api.headers("operator"))
    assert as_json.json()["meter_values"][0]["signed_meter_data"] == signed["signedMeterData"]


def test_a_page_goes_on_after_its_last_reading_is_removed(api):
    """Retention may remove the reading a page ended with before the next page is asked for."""
    _charge(api)
    get = lambda path: api.client.get(path, headers=api.headers("operator")).json()  # noqa: E731
    first = get("/api/v1/meter-values?station_id=CS-1&limit=1")
    assert [m["value"] for m in first["meter_values"]] == [1000, 230.1]
    gone = first["meter_values"][0]["id"]
    run_in_session(api.ctx, lambda s: s.exec(delete(MeterReading).where(MeterReading.id == gone)))
    more = get(f"/api/v1/meter-values?station_id=CS-1&limit=1&after={first['next_after']}")
    assert [m["value"] for m in more["meter_values"]] == [4000, 230.1]


def test_a_long_transactions_detail_lists_a_bounded_part_and_counts_the_whole(api, monkeypatch):
    """Every event was loaded and listed at once: a day's charge at an event every few seconds held
    the process for seconds and answered tens of megabytes."""
    monkeypatch.setattr(service, "DETAIL_LISTED", 3)
    monkeypatch.setattr(service, "MISSING_LISTED", 4)
    states = ["EVConnected", "Charging", "SuspendedEV", "Charging", "SuspendedEV", "Charging"]
    for seq_no, state in zip((0, 1, 4, 5, 20, 21), states, strict=True):
        _event(api.ctx, "CS-1", "tx-long", "Started" if seq_no == 0 else "Updated", seq_no,
               f"2025-06-01T12:{seq_no:02d}:00Z", 1000 + seq_no, transactionInfo={
                   "transactionId": "tx-long", "chargingState": state})
    body = api.client.get("/api/v1/transactions/CS-1/tx-long", headers=api.headers("auditor")).json()
    assert body["events"] == 6 and [e["seq_no"] for e in body["event_list"]] == [0, 1, 4]
    assert body["missing_seq_nos"] == [2, 3, 6, 7] and body["seq_missing"] == 16
    assert [s["charging_state"] for s in body["charging_states"]] == ["EVConnected", "Charging", "SuspendedEV"]


@pytest.mark.parametrize("transaction_id", ["CS/2025/0001", ""])
def test_a_transaction_whose_id_has_a_slash_or_nothing_is_shown(sqlite_api, transaction_id):
    """transactionId is any string of up to 36 characters: listed, yet its detail was 404 with no
    rule, the route taking one path segment."""
    _event(sqlite_api.ctx, "CS-1", transaction_id, "Started", 0, "2025-06-01T12:00:00Z", 1000)
    answer = sqlite_api.client.get(f"/api/v1/transactions/CS-1/{transaction_id}",
                                   headers=sqlite_api.headers("auditor"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["transaction_id"] == transaction_id and len(answer.json()["meter_values"]) == 2


@pytest.mark.parametrize("after, says", [("17", "not a position"), ("1.2.3", "not a position"),
                                         ("1e3.5", "not a position"), ("999999999999999999.1", "years 1 to 9999"),
                                         ("0.9999999999999999999", "larger than any id"), ("9" * 41, "")])
def test_an_after_this_service_did_not_give_is_refused_by_name(sqlite_api, after, says):
    answer = sqlite_api.client.get(f"/api/v1/meter-values?after={after}", headers=sqlite_api.headers("operator"))
    assert answer.status_code == 422, answer.text
    assert "after" in answer.text and says in answer.json()["error"]


@pytest.mark.parametrize("path, status", [("/api/v1/meter-values?transaction_id=tx-1", 422),
                                          ("/api/v1/meter-values?station_id=CS-9&transaction_id=tx-1", 404)])
def test_a_transaction_filter_must_name_a_known_transaction(sqlite_api, path, status):
    answer = sqlite_api.client.get(path, headers=sqlite_api.headers("operator"))
    assert answer.status_code == status and answer.json()["rule"]


@pytest.mark.parametrize("format", ["json", "csv"])
def test_a_measurand_no_station_can_send_is_refused(sqlite_api, format):
    """Misspelt, it matched nothing: an empty page, or a CSV export of the header alone, with 200."""
    answer = sqlite_api.client.get(f"/api/v1/meter-values?measurand=energy.active.import.register&format={format}",
                                   headers=sqlite_api.headers("auditor"))
    assert answer.status_code == 422 and answer.json()["field"] == "query.measurand", answer.text


@pytest.mark.parametrize("path", ["/api/v1/transactions", "/api/v1/meter-values", "/api/v1/meter-values?format=csv"])
def test_a_window_that_ends_before_it_starts_is_refused(sqlite_api, path):
    """until is excluded: since at or after it matched nothing, and answered an empty page with 200."""
    window = "since=2025-06-01T00:00:00Z&until=2025-01-01T00:00:00Z"
    answer = sqlite_api.client.get(f"{path}{'&' if '?' in path else '?'}{window}",
                                   headers=sqlite_api.headers("auditor"))
    assert answer.status_code == 422 and answer.json()["rule"] == "request.window", answer.text
    assert answer.json()["field"] == "query.until"


def test_reading_needs_a_role(sqlite_api):
    assert sqlite_api.client.get("/api/v1/transactions").status_code == 401
    assert sqlite_api.client.get("/api/v1/meter-values").status_code == 401
