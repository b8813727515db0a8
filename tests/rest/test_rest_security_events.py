"""Reading security events (the OCPP gateway writes them)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from rest_support import sqlite_api  # noqa: F401 - fixtures

from api.core.audit import run_in_session
from storage.security_events import SecurityEvent

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def _record(api, *events: SecurityEvent) -> None:
    run_in_session(api.ctx, lambda s: s.add_all(events))


def _events(api, query: str = "") -> dict:
    answer = api.client.get(f"/api/v1/security-events{query}", headers=api.headers("operator"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_filters_and_newest_first(sqlite_api):
    _record(sqlite_api,
            SecurityEvent(station_id="CS-1", source="station", type="FirmwareUpdated", occurred_at=T0),
            SecurityEvent(station_id="CS-1", source="station", type="TamperDetectionActivated",
                          occurred_at=T0 + timedelta(hours=1), critical=True, tech_info="lid opened"),
            SecurityEvent(station_id="CS-2", source="csms", type="InvalidChargingStationCertificate",
                          occurred_at=T0 + timedelta(hours=2), critical=True))

    assert [e["type"] for e in _events(sqlite_api)["events"]] == [
        "InvalidChargingStationCertificate", "TamperDetectionActivated", "FirmwareUpdated"]
    assert [e["type"] for e in _events(sqlite_api, "?station_id=CS-1")["events"]] == [
        "TamperDetectionActivated", "FirmwareUpdated"]
    critical = _events(sqlite_api, "?station_id=CS-1&critical=true")["events"]
    assert [(e["type"], e["tech_info"]) for e in critical] == [("TamperDetectionActivated", "lid opened")]
    assert [e["station_id"] for e in _events(sqlite_api, "?type=InvalidChargingStationCertificate")["events"]] \
        == ["CS-2"]
    since = (T0 + timedelta(minutes=90)).isoformat().replace("+", "%2B")
    assert [e["station_id"] for e in _events(sqlite_api, f"?since={since}")["events"]] == ["CS-2"]


def test_paging(sqlite_api):
    _record(sqlite_api, *(SecurityEvent(station_id=f"CS-{n}", source="station", type="StartupOfTheDevice",
                                        occurred_at=T0 + timedelta(minutes=n)) for n in range(5)))
    first = _events(sqlite_api, "?limit=3")
    rest = _events(sqlite_api, f"?limit=3&before={first['next_before']}")
    assert rest["next_before"] is None
    assert [e["station_id"] for e in first["events"] + rest["events"]] == [f"CS-{n}" for n in reversed(range(5))]
