"""Reading one device-model variable of a connected station (GetVariables, B06).

Workflows that depend on how a station is configured (e.g. SecurityCtrlr.AdditionalRootCertificateCheck)
ask with this and cache the answer themselves. A station that does not implement the variable
answers UnknownComponent/UnknownVariable: that is an answer ("not there"), unlike a timeout or a
CALLERROR, which leave the value unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

from ocpp.v201.datatypes import ComponentType, GetVariableDataType, VariableType
from ocpp.v201.enums import GetVariableStatusEnumType

from api.csms.provisioning.commands import GetVariables
from api.ocpp.command import send_command
from api.ocpp.gateway import Gateway

_ABSENT = (GetVariableStatusEnumType.unknown_component, GetVariableStatusEnumType.unknown_variable)


@dataclass(frozen=True)
class VariableRead:
    answered: bool             # the station gave a GetVariableResult for the variable
    status: str                # attributeStatus, or the call status when it did not answer
    value: str | None = None   # attributeValue when Accepted

    @property
    def absent(self) -> bool:
        """The station says it does not have this variable."""
        return self.answered and self.status in _ABSENT

    def as_bool(self) -> bool | None:
        if self.value is None:
            return None
        return {"true": True, "false": False}.get(self.value.strip().lower())


async def read_variable(gateway: Gateway, station_id: str, component: str, variable: str,
                        timeout: float | None = None) -> VariableRead:
    answer = await send_command(gateway, station_id, GetVariables(get_variable_data=[
        GetVariableDataType(component=ComponentType(name=component), variable=VariableType(name=variable))]), timeout)
    if answer.result is None:
        return VariableRead(False, answer.outcome.status)
    for result in answer.result.get_variable_result:
        if result.component.name == component and result.variable.name == variable:
            return VariableRead(True, result.attribute_status, result.attribute_value)
    return VariableRead(False, "missing")  # answered, but not about what we asked
