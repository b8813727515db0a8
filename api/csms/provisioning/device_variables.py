"""Reading one device-model variable of a connected station (GetVariables, B06).

Workflows that depend on how a station is configured (e.g. SecurityCtrlr.AdditionalRootCertificateCheck)
ask with this and cache the answer themselves. A station that does not implement the variable
answers UnknownComponent/UnknownVariable: that is an answer ("not there"), unlike a timeout or a
CALLERROR, which leave the value unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.ocpp.gateway import Gateway
from api.ocpp.session import ANSWERED


@dataclass(frozen=True)
class VariableRead:
    answered: bool             # the station gave a GetVariableResult for the variable
    status: str                # attributeStatus, or the call status when it did not answer
    value: str | None = None   # attributeValue when Accepted

    @property
    def absent(self) -> bool:
        """The station says it does not have this variable."""
        return self.answered and self.status in ("UnknownComponent", "UnknownVariable")

    def as_bool(self) -> bool | None:
        if self.value is None:
            return None
        return {"true": True, "false": False}.get(self.value.strip().lower())


async def read_variable(gateway: Gateway, station_id: str, component: str, variable: str,
                        timeout: float | None = None) -> VariableRead:
    outcome = await gateway.send_call(station_id, "GetVariables", {"getVariableData": [
        {"component": {"name": component}, "variable": {"name": variable}}]}, timeout)
    if outcome.status != ANSWERED:
        return VariableRead(False, outcome.status)
    for result in outcome.response.get("getVariableResult", []):
        if (result.get("component", {}).get("name") == component
                and result.get("variable", {}).get("name") == variable):
            return VariableRead(True, result["attributeStatus"], result.get("attributeValue"))
    return VariableRead(False, "missing")  # answered, but not about what we asked
