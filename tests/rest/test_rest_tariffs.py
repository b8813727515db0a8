"""Tariffs over REST: officers set and remove them (audited), every role reads them, bad prices
are refused by name."""

from __future__ import annotations

from rest_support import sqlite_api  # noqa: F401 - fixture


def test_an_officer_sets_reads_and_removes_a_station_tariff(sqlite_api):
    api = sqlite_api
    api.register_station("CS-T1")
    body = {"currency": "EUR", "price_per_kwh": "0.30", "price_per_minute": "0.02", "flat_fee": "1"}

    created = api.client.put("/api/v1/stations/CS-T1/tariff", json=body, headers=api.headers("officer"))
    again = api.client.put("/api/v1/stations/CS-T1/tariff", json={**body, "flat_fee": "1.50"},
                           headers=api.headers("officer"))

    assert created.status_code == 201 and again.status_code == 200, created.text
    read = api.client.get("/api/v1/stations/CS-T1/tariff", headers=api.headers("auditor")).json()
    assert (read["station_id"], read["price_per_kwh"], read["flat_fee"]) == ("CS-T1", "0.30", "1.50")
    entries = api.audit("tariff.set", "CS-T1")
    assert len(entries) == 2 and entries[-1].actor == api.actor("officer")
    assert api.client.delete("/api/v1/stations/CS-T1/tariff", headers=api.headers("officer")).status_code == 204
    assert api.client.get("/api/v1/stations/CS-T1/tariff", headers=api.headers("auditor")).status_code == 404
    assert len(api.audit("tariff.delete", "CS-T1")) == 1


def test_the_default_tariff_is_listed_first(sqlite_api):
    api = sqlite_api
    api.register_station("CS-T2")
    api.client.put("/api/v1/stations/CS-T2/tariff", json={"currency": "EUR", "price_per_kwh": "0.5"},
                   headers=api.headers("officer"))
    api.client.put("/api/v1/tariffs/default", json={"currency": "EUR", "price_per_kwh": "0.4"},
                   headers=api.headers("officer"))
    listed = api.client.get("/api/v1/tariffs", headers=api.headers("operator")).json()
    assert [(t["station_id"], t["price_per_kwh"]) for t in listed] == [(None, "0.4"), ("CS-T2", "0.5")]


def test_only_an_officer_sets_a_tariff(sqlite_api):
    api = sqlite_api
    refused = api.client.put("/api/v1/tariffs/default", json={"currency": "EUR", "price_per_kwh": "0.1"},
                             headers=api.headers("operator"))
    assert refused.status_code == 403
    assert api.client.get("/api/v1/tariffs/default", headers=api.headers("operator")).status_code == 404


def test_bad_prices_and_unknown_stations_are_refused(sqlite_api):
    api = sqlite_api
    bad = api.client.put("/api/v1/tariffs/default", json={"currency": "EUR", "price_per_kwh": "-0.1"},
                         headers=api.headers("officer"))
    assert bad.status_code == 422 and "price_per_kwh" in bad.text
    currency = api.client.put("/api/v1/tariffs/default", json={"currency": "eur", "price_per_kwh": "0.1"},
                              headers=api.headers("officer"))
    assert currency.status_code == 422 and currency.json()["rule"] == "tariff.currency"
    unknown = api.client.put("/api/v1/stations/NOPE/tariff", json={"currency": "EUR"},
                             headers=api.headers("officer"))
    assert unknown.status_code == 404
    assert api.audit("tariff.set", "NOPE")[0].outcome == "refused"
