"""The device model of a simulated station: what it answers to GetVariables, SetVariables and
reports (GetBaseReport, GetReport), with the limits a real station has.

A value is either fixed or a callable read at the time of the request, so a variable such as
SecurityCtrlr.CertificateEntries follows what the station holds; so is a maxLimit. A variable may
carry characteristics (dataType, minLimit, maxLimit, valuesList) and a mutability; SetVariables
refuses what they exclude (Rejected), as a station does. A variable key is (component,
variable) or (component, variable, variable instance), e.g. ("DeviceDataCtrlr",
"ItemsPerMessage", "GetVariables").

Message limits: DeviceDataCtrlr.ItemsPerMessage and BytesPerMessage, instances GetVariables and
SetVariables, when set, are enforced: a request with more entries is answered with CALLERROR
OccurrenceConstraintViolation, one with more bytes with FormatViolation (B06.FR.15/16,
B05.FR.13/14 leave the station that choice), so a CSMS that does not split is caught.
Unknown component or variable is answered UnknownComponent / UnknownVariable, never guessed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Value = str | int | bool | Callable[[], str | int | bool | None]
Limit = int | Callable[[], int | None]
Key = tuple[str, ...]


class StationCallError(Exception):
    """The station answers the CSMS's call with this CALLERROR (code, description)."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code


@dataclass
class Definition:
    data_type: str | None = None
    min_limit: float | None = None
    max_limit: Limit | None = None
    values_list: str | None = None
    mutability: str | None = None    # None: not reported (and writable)


def _render(value: str | int | bool) -> str:
    # OCPP device-model values travel as strings; booleans are "true"/"false" (Part 2 §2.4).
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _data_type(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "integer" if isinstance(value, int) else "string"


def _read(value: Any) -> Any:
    return value() if callable(value) else value


def _key(component: Mapping[str, Any], variable: Mapping[str, Any]) -> Key:
    instance = variable.get("instance")
    return (component.get("name"), variable.get("name"), instance) if instance else \
        (component.get("name"), variable.get("name"))


def _size(payload: Any) -> int:
    # The frame as a CSMS sends it: [2,"<36-char id>","<action>",payload], compact UTF-8.
    return len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())


class DeviceModel:
    def __init__(self, values: Mapping[Key, Value] | None = None,
                 max_limits: Mapping[Key, Limit] | None = None) -> None:
        self._values: dict[Key, Value] = dict(values or {})
        self._definitions: dict[Key, Definition] = {key: Definition(max_limit=limit)
                                                    for key, limit in (max_limits or {}).items()}

    def set(self, component: str, variable: str, value: Value, instance: str | None = None) -> None:
        self._values[(component, variable, instance) if instance else (component, variable)] = value

    def define(self, component: str, variable: str, value: Value, *, instance: str | None = None,
               data_type: str | None = None, min_limit: float | None = None, max_limit: Limit | None = None,
               values_list: str | None = None, mutability: str = "ReadWrite") -> None:
        """A variable with its characteristics (what a report lists and SetVariables enforces)."""
        key = (component, variable, instance) if instance else (component, variable)
        self._values[key] = value
        self._definitions[key] = Definition(data_type, min_limit, max_limit, values_list, mutability)

    def limit_messages(self, action: str, items: int | None = None, size: int | None = None) -> None:
        """DeviceDataCtrlr.ItemsPerMessage / BytesPerMessage for GetVariables or SetVariables."""
        if items is not None:
            self.define("DeviceDataCtrlr", "ItemsPerMessage", items, instance=action, data_type="integer",
                        mutability="ReadOnly")
        if size is not None:
            self.define("DeviceDataCtrlr", "BytesPerMessage", size, instance=action, data_type="integer",
                        mutability="ReadOnly")

    def remove(self, component: str, variable: str) -> None:
        """Make the station not implement the variable (it answers UnknownVariable)."""
        self._values.pop((component, variable), None)

    def value(self, component: str, variable: str, instance: str | None = None) -> str | None:
        value = _read(self._values.get((component, variable, instance) if instance else (component, variable)))
        return None if value is None else _render(value)

    def _enforce(self, action: str, payload: dict[str, Any], items_field: str) -> None:
        items = self.value("DeviceDataCtrlr", "ItemsPerMessage", action)
        if items is not None and len(payload.get(items_field, [])) > int(items):
            raise StationCallError("OccurrenceConstraintViolation",
                                   f"{len(payload[items_field])} entries; ItemsPerMessage[{action}] is {items}")
        size = self.value("DeviceDataCtrlr", "BytesPerMessage", action)
        frame = _size(payload) + len('[2,"","",]') + 36 + len(action)
        if size is not None and frame > int(size):
            raise StationCallError("FormatViolation", f"{frame} bytes; BytesPerMessage[{action}] is {size}")

    def get_variables(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The GetVariablesResponse for ``payload``."""
        self._enforce("GetVariables", payload, "getVariableData")
        return {"getVariableResult": [self._result(item) for item in payload.get("getVariableData", [])]}

    def set_variables(self, payload: dict[str, Any], special: Callable[[dict[str, Any]], str | None]) -> dict[str, Any]:
        """The SetVariablesResponse; ``special(item)`` answers variables the station acts on itself
        (a password, the network priority) or returns None."""
        self._enforce("SetVariables", payload, "setVariableData")
        results = []
        for item in payload.get("setVariableData", []):
            status = special(item)
            if status is None:
                status = self._write(item)
            results.append({"attributeStatus": status, "component": item["component"], "variable": item["variable"]})
        return {"setVariableResult": results}

    def _write(self, item: dict[str, Any]) -> str:
        key = _key(item["component"], item["variable"])
        if key not in self._values:
            # A simulator takes a setting it does not model (the blocks' cases set many) and
            # answers it from now on; a real station would say UnknownVariable.
            self._values[key] = item["attributeValue"]
            return "Accepted"
        definition = self._definitions.get(key, Definition())
        value = item["attributeValue"]
        if definition.mutability == "ReadOnly" or not _fits(value, definition):
            return "Rejected"
        current = _read(self._values[key])
        self._values[key] = int(value) if isinstance(current, int) and not isinstance(current, bool) \
            and value.lstrip("-").isdigit() else value
        return "Accepted"

    def report(self, report_base: str = "FullInventory") -> list[dict[str, Any]]:
        """Every variable as a report lists it (B07): its Actual value, mutability and
        characteristics. ConfigurationInventory: the writable ones only."""
        entries = []
        for key, value in self._values.items():
            actual = _read(value)
            if actual is None:
                continue
            definition = self._definitions.get(key, Definition())
            if report_base == "ConfigurationInventory" and definition.mutability == "ReadOnly":
                continue
            characteristics: dict[str, Any] = {"dataType": definition.data_type or _data_type(actual),
                                               "supportsMonitoring": False}
            for name, limit in (("minLimit", definition.min_limit), ("maxLimit", _read(definition.max_limit))):
                if limit is not None:
                    characteristics[name] = limit
            if definition.values_list:
                characteristics["valuesList"] = definition.values_list
            variable = {"name": key[1], **({"instance": key[2]} if len(key) > 2 else {})}
            entries.append({"component": {"name": key[0]}, "variable": variable,
                            "variableAttribute": [{"type": "Actual", "value": _render(actual),
                                                   **({"mutability": definition.mutability}
                                                      if definition.mutability else {})}],
                            "variableCharacteristics": characteristics})
        return entries

    def _result(self, item: dict[str, Any]) -> dict[str, Any]:
        component, variable = item["component"], item["variable"]
        result: dict[str, Any] = {"component": component, "variable": variable}
        attribute = item.get("attributeType", "Actual")
        if attribute != "Actual":
            return {**result, "attributeStatus": "NotSupportedAttributeType", "attributeType": attribute}
        if not any(c[0] == component.get("name") for c in self._values):
            return {**result, "attributeStatus": "UnknownComponent"}
        value = self.value(component.get("name"), variable.get("name"), variable.get("instance"))
        if value is None:
            return {**result, "attributeStatus": "UnknownVariable"}
        return {**result, "attributeStatus": "Accepted", "attributeValue": value}


def _fits(value: str, definition: Definition) -> bool:
    if definition.data_type in ("integer", "decimal"):
        try:
            number = int(value) if definition.data_type == "integer" else float(value)
        except ValueError:
            return False
        maximum = _read(definition.max_limit)
        return (definition.min_limit is None or number >= definition.min_limit) and \
            (maximum is None or number <= maximum)
    if definition.values_list and definition.data_type in ("OptionList", "SequenceList", "MemberList"):
        allowed = definition.values_list.split(",")
        given = [value] if definition.data_type == "OptionList" else value.split(",")
        return all(item in allowed for item in given)
    return True


def define_standard(model: DeviceModel) -> None:
    """The controller variables every station reports, with limits like a real station's; a
    test narrows them (a HeartbeatInterval of 1-10 s, 4 items per GetVariables)."""
    model.define("OCPPCommCtrlr", "HeartbeatInterval", 300, data_type="integer", min_limit=1, max_limit=86400)
    model.define("OCPPCommCtrlr", "OfflineThreshold", 300, data_type="integer", min_limit=0, max_limit=86400)
    model.define("ClockCtrlr", "TimeSource", "Heartbeat", data_type="SequenceList",
                 values_list="Heartbeat,NTP,RealTimeClock")
    model.define("DeviceDataCtrlr", "ItemsPerMessage", 50, instance="GetVariables", data_type="integer",
                 mutability="ReadOnly")
    model.define("DeviceDataCtrlr", "ItemsPerMessage", 50, instance="SetVariables", data_type="integer",
                 mutability="ReadOnly")
    model.define("DeviceDataCtrlr", "BytesPerMessage", 65000, instance="GetVariables", data_type="integer",
                 mutability="ReadOnly")
    model.define("DeviceDataCtrlr", "BytesPerMessage", 65000, instance="SetVariables", data_type="integer",
                 mutability="ReadOnly")
    model.define("DeviceDataCtrlr", "ItemsPerMessage", 20, instance="GetReport", data_type="integer",
                 mutability="ReadOnly")
