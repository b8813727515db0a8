"""The few device-model variables a simulated station reports through GetVariables.

A value is either fixed or a callable read at the time of the request, so a variable such as
SecurityCtrlr.CertificateEntries follows what the station holds. Unknown component or variable
is answered as a real station answers it (UnknownComponent / UnknownVariable), never guessed.
Only the Actual attribute exists here: the tests need nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Value = str | int | bool | Callable[[], str | int | bool]


def _render(value: str | int | bool) -> str:
    # OCPP device-model values travel as strings; booleans are "true"/"false" (Part 2 §2.4).
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class DeviceModel:
    def __init__(self, values: Mapping[tuple[str, str], Value] | None = None) -> None:
        self._values: dict[tuple[str, str], Value] = dict(values or {})

    def set(self, component: str, variable: str, value: Value) -> None:
        self._values[(component, variable)] = value

    def remove(self, component: str, variable: str) -> None:
        """Make the station not implement the variable (it answers UnknownVariable)."""
        self._values.pop((component, variable), None)

    def value(self, component: str, variable: str) -> str | None:
        value = self._values.get((component, variable))
        if value is None:
            return None
        return _render(value() if callable(value) else value)

    def get_variables(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The GetVariablesResponse for ``payload``."""
        return {"getVariableResult": [self._result(item) for item in payload.get("getVariableData", [])]}

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
