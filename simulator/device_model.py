"""The few device-model variables a simulated station reports through GetVariables and
GetBaseReport.

A value is either fixed or a callable read at the time of the request, so a variable such as
SecurityCtrlr.CertificateEntries follows what the station holds; so is a maxLimit, a variable
characteristic that only a report carries (CertificateEntries' is the store's capacity). Unknown
component or variable is answered as a real station answers it (UnknownComponent /
UnknownVariable), never guessed. Only the Actual attribute exists here, and no mutability: a
report lists every variable (FullInventory) and cannot pick the configurable ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Value = str | int | bool | Callable[[], str | int | bool | None]
Limit = int | Callable[[], int | None]


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


class DeviceModel:
    def __init__(self, values: Mapping[tuple[str, str], Value] | None = None,
                 max_limits: Mapping[tuple[str, str], Limit] | None = None) -> None:
        self._values: dict[tuple[str, str], Value] = dict(values or {})
        self._max_limits: dict[tuple[str, str], Limit] = dict(max_limits or {})

    def set(self, component: str, variable: str, value: Value) -> None:
        self._values[(component, variable)] = value

    def remove(self, component: str, variable: str) -> None:
        """Make the station not implement the variable (it answers UnknownVariable)."""
        self._values.pop((component, variable), None)

    def value(self, component: str, variable: str) -> str | None:
        value = _read(self._values.get((component, variable)))
        return None if value is None else _render(value)

    def get_variables(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The GetVariablesResponse for ``payload``."""
        return {"getVariableResult": [self._result(item) for item in payload.get("getVariableData", [])]}

    def report(self) -> list[dict[str, Any]]:
        """Every variable as a FullInventory NotifyReport lists it (B07): its Actual value and its
        characteristics, with the maxLimit where there is one."""
        entries = []
        for (component, variable), value in self._values.items():
            actual = _read(value)
            if actual is None:
                continue
            characteristics: dict[str, Any] = {"dataType": _data_type(actual), "supportsMonitoring": False}
            limit = _read(self._max_limits.get((component, variable)))
            if limit is not None:
                characteristics["maxLimit"] = limit
            entries.append({"component": {"name": component}, "variable": {"name": variable},
                            "variableAttribute": [{"type": "Actual", "value": _render(actual)}],
                            "variableCharacteristics": characteristics})
        return entries

    def _result(self, item: dict[str, Any]) -> dict[str, Any]:
        component, variable = item["component"], item["variable"]
        result: dict[str, Any] = {"component": component, "variable": variable}
        attribute = item.get("attributeType", "Actual")
        if attribute != "Actual":
            return {**result, "attributeStatus": "NotSupportedAttributeType", "attributeType": attribute}
        if not any(c == component.get("name") for c, _ in self._values):
            return {**result, "attributeStatus": "UnknownComponent"}
        value = self.value(component.get("name"), variable.get("name"))
        if value is None:
            return {**result, "attributeStatus": "UnknownVariable"}
        return {**result, "attributeStatus": "Accepted", "attributeValue": value}
