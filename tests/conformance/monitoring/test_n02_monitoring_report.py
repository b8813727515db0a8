"""N02 — Get monitoring report: the station answers Accepted and reports its monitors in
NotifyMonitoringReport parts (seqNo, tbc), each answered; the CSMS keeps the monitors (the
hard-wired ones it never set too) and the report complete. EmptyResultSet and Rejected answers
are kept with the request."""

from __future__ import annotations

from core_support import answer, booted_station, eventually, get, received
from customer_support import monitor, monitors, sent
from ocpp_support import csms  # noqa: F401 - fixture


async def test_n02_report_in_parts(csms):
    station = await booted_station(csms, "N02")
    wired = station.monitoring.hard_wire("TemperatureSensor", "Temperature")
    await sent(csms, station, "SetVariableMonitoring", {"set_monitoring_data": [
        monitor("EVSE", "Power", "UpperThreshold", 22000, 4), monitor("ChargingStation", "Power", "Delta", 500, 6)]})

    result = await sent(csms, station, "GetMonitoringReport", {"request_id": 42,
                                                               "monitoring_criteria": ["ThresholdMonitoring"]})

    assert result["status"] == "Accepted"
    assert received(station, "GetMonitoringReport") == [{"requestId": 42,
                                                         "monitoringCriteria": ["ThresholdMonitoring"]}]

    async def complete():
        reports = (await get(csms, "/api/v1/stations/N02/monitoring"))["reports"]
        return reports and reports[0]["complete"] and reports[0]
    report = await eventually(complete)
    assert (report["request_id"], report["parts"], report["status"], report["gap"]) == (42, 2, "Accepted", False)
    kept = {m["monitor_id"]: m for m in await monitors(csms, "N02")}
    assert len(kept) == 3 and kept[wired]["source"] == "reported" and kept[wired]["severity"] == 2
    assert {m["source"] for i, m in kept.items() if i != wired} == {"set"}


async def test_n02_empty_result_and_rejected(csms):
    station = await booted_station(csms, "N02-E")
    assert (await sent(csms, station, "GetMonitoringReport", {"request_id": 1}))["status"] == "EmptyResultSet"
    answer(station, "GetMonitoringReport", {"status": "Rejected"})
    assert (await sent(csms, station, "GetMonitoringReport", {"request_id": 2}))["status"] == "Rejected"
    reports = (await get(csms, "/api/v1/stations/N02-E/monitoring"))["reports"]
    assert [(r["request_id"], r["status"], r["parts"]) for r in reports] == [(2, "Rejected", 0),
                                                                             (1, "EmptyResultSet", 0)]
