"""Monitoring on a simulated station (N02-N08): monitors on the variables it knows, the
monitoring base and level, monitoring reports, and the events its monitors raise.

Answers follow the spec's outcomes: UnknownComponent / UnknownVariable for names it does not
have, UnsupportedMonitorType for PeriodicClockAligned (not modelled), Duplicate for a second
monitor of the same type on the same variable, Rejected for a Delta monitor with a negative value;
otherwise Accepted with an id it assigns. A hard-wired monitor cannot be cleared (Rejected).
"""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from typing import Any

from simulator.reports import in_groups, send_after_reply

# The variables that can be monitored, by component.
DEFAULT_VARIABLES: dict[str, set[str]] = {
    "ChargingStation": {"Power", "Problem"},
    "EVSE": {"Power", "AvailabilityState"},
    "Connector": {"AvailabilityState"},
    "TemperatureSensor": {"Temperature"},
}
_UNSUPPORTED_TYPES = {"PeriodicClockAligned"}
_CUSTOM_BASES = {"FactoryDefault", "HardWiredOnly"}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class Monitors:
    def __init__(self, variables: dict[str, set[str]] | None = None, per_report_part: int = 2) -> None:
        self.variables = {name: set(found) for name, found in (variables or DEFAULT_VARIABLES).items()}
        self.per_report_part = per_report_part
        self._ids = itertools.count(1)
        # id → the monitor as the station holds it: component, variable, type, value, severity, transaction, kind.
        self.monitors: dict[int, dict[str, Any]] = {}
        self.base: str = "All"
        self.level: int = 9
        self._event_ids = itertools.count(1)
        # Scripted answers instead of acting: per action name ("SetMonitoringBase", "GetMonitoringReport").
        self.answers: dict[str, str] = {}

    def hard_wire(self, component: str, variable: str, kind: str = "UpperThreshold", value: float = 80.0,
                  severity: int = 2) -> int:
        """A monitor built into the station (HardWiredMonitor): reported, never cleared."""
        monitor_id = next(self._ids)
        self.monitors[monitor_id] = {"component": {"name": component}, "variable": {"name": variable}, "type": kind,
                                     "value": value, "severity": severity, "transaction": False, "kind": "HardWired"}
        return monitor_id

    # --- N04 ----------------------------------------------------------------------------------

    def _status(self, entry: dict[str, Any]) -> str:
        component, variable = entry["component"]["name"], entry["variable"]["name"]
        if component not in self.variables:
            return "UnknownComponent"
        if variable not in self.variables[component]:
            return "UnknownVariable"
        if entry["type"] in _UNSUPPORTED_TYPES:
            return "UnsupportedMonitorType"
        if entry["type"] == "Delta" and entry["value"] < 0:
            return "Rejected"
        for monitor_id, held in self.monitors.items():
            same = (held["component"]["name"], held["variable"]["name"], held["type"]) == (component, variable,
                                                                                           entry["type"])
            if same and monitor_id != entry.get("id"):
                return "Duplicate"
        return "Accepted"

    def set_variable_monitoring(self, _station: Any, payload: dict[str, Any]) -> dict[str, Any]:
        results = []
        for entry in payload["setMonitoringData"]:
            status = self._status(entry)
            result = {"status": status, "type": entry["type"], "severity": entry["severity"],
                      "component": entry["component"], "variable": entry["variable"]}
            if status == "Accepted":
                monitor_id = entry.get("id") or next(self._ids)
                self.monitors[monitor_id] = {"component": entry["component"], "variable": entry["variable"],
                                             "type": entry["type"], "value": entry["value"],
                                             "severity": entry["severity"],
                                             "transaction": entry.get("transaction", False), "kind": "Custom"}
                result["id"] = monitor_id
            results.append(result)
        return {"setMonitoringResult": results}

    # --- N06 ----------------------------------------------------------------------------------

    def clear_variable_monitoring(self, _station: Any, payload: dict[str, Any]) -> dict[str, Any]:
        results = []
        for monitor_id in payload["id"]:
            held = self.monitors.get(monitor_id)
            if held is None:
                status = "NotFound"
            elif held["kind"] == "HardWired":
                status = "Rejected"
            else:
                del self.monitors[monitor_id]
                status = "Accepted"
            results.append({"status": status, "id": monitor_id})
        return {"clearMonitoringResult": results}

    # --- N03, N05 -----------------------------------------------------------------------------

    def set_monitoring_base(self, _station: Any, payload: dict[str, Any]) -> dict[str, Any]:
        if "SetMonitoringBase" in self.answers:
            return {"status": self.answers["SetMonitoringBase"]}
        self.base = payload["monitoringBase"]
        if self.base in _CUSTOM_BASES:
            self.monitors = {i: m for i, m in self.monitors.items() if m["kind"] != "Custom"}
        return {"status": "Accepted"}

    def set_monitoring_level(self, _station: Any, payload: dict[str, Any]) -> dict[str, Any]:
        if not 0 <= payload["severity"] <= 9:
            return {"status": "Rejected"}
        self.level = payload["severity"]
        return {"status": "Accepted"}

    # --- N02 ----------------------------------------------------------------------------------

    def _selected(self, payload: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
        wanted = {(cv["component"]["name"], cv.get("variable", {}).get("name"))
                  for cv in payload.get("componentVariable", ())}
        chosen = []
        for monitor_id, held in sorted(self.monitors.items()):
            component, variable = held["component"]["name"], held["variable"]["name"]
            if wanted and (component, variable) not in wanted and (component, None) not in wanted:
                continue
            chosen.append((monitor_id, held))
        return chosen

    def get_monitoring_report(self, station: Any, payload: dict[str, Any]) -> dict[str, Any]:
        if "GetMonitoringReport" in self.answers:
            return {"status": self.answers["GetMonitoringReport"]}
        chosen = self._selected(payload)
        if not chosen:
            return {"status": "EmptyResultSet"}
        groups = in_groups(chosen, self.per_report_part)
        send_after_reply(station, "NotifyMonitoringReport", [
            {"requestId": payload["requestId"], "seqNo": number, "tbc": number < len(groups) - 1,
             "generatedAt": _now(), "monitor": [{
                 "component": held["component"], "variable": held["variable"],
                 "variableMonitoring": [{"id": monitor_id, "transaction": held["transaction"], "value": held["value"],
                                         "type": held["type"], "severity": held["severity"]}]}
                 for monitor_id, held in group]}
            for number, group in enumerate(groups)])
        return {"status": "Accepted"}

    # --- N07, N08: events -----------------------------------------------------------------------

    def event(self, monitor_id: int, actual_value: str, *, trigger: str = "Alerting", cleared: bool = False,
              tech_code: str | None = None, tech_info: str | None = None) -> dict[str, Any]:
        """The eventData a monitor raises (Alerting for a threshold or delta, Periodic)."""
        held = self.monitors[monitor_id]
        event: dict[str, Any] = {
            "eventId": next(self._event_ids), "timestamp": _now(), "trigger": trigger, "actualValue": actual_value,
            "cleared": cleared, "variableMonitoringId": monitor_id, "component": held["component"],
            "variable": held["variable"],
            "eventNotificationType": "HardWiredMonitor" if held["kind"] == "HardWired" else "CustomMonitor"}
        if tech_code is not None:
            event["techCode"] = tech_code
        if tech_info is not None:
            event["techInfo"] = tech_info
        return event

    def reportable(self, monitor_id: int) -> bool:
        """N05: only events of monitors at the monitoring level or more severe are sent."""
        return self.monitors[monitor_id]["severity"] <= self.level

    async def notify(self, station: Any, events: list[dict[str, Any]]) -> dict[str, Any]:
        return await station.call("NotifyEvent", {"generatedAt": _now(), "seqNo": 0, "eventData": events})
