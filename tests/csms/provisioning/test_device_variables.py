"""Reading one device-model variable through the GetVariables command, without sockets: a fake
gateway answers as a station would, and what the workflows see is checked."""

from __future__ import annotations

import pytest

from api.csms.provisioning.device_variables import read_variable
from api.ocpp.session import ANSWERED, TIMEOUT, CallOutcome

pytestmark = pytest.mark.fast


class FakeGateway:
    def __init__(self, outcome: CallOutcome) -> None:
        self.outcome = outcome
        self.sent: list[tuple[str, dict]] = []

    async def send_call(self, station_id, action, payload, timeout=None):
        self.sent.append((action, payload))
        return self.outcome


def _answer(status: str, value: str | None = None, variable: str = "AdditionalRootCertificateCheck") -> CallOutcome:
    result = {"attributeStatus": status, "component": {"name": "SecurityCtrlr"}, "variable": {"name": variable},
              **({"attributeValue": value} if value is not None else {})}
    return CallOutcome(ANSWERED, response={"getVariableResult": [result]}, sent=True)


async def test_the_request_names_the_variable_and_the_value_is_read():
    gateway = FakeGateway(_answer("Accepted", "true"))
    read = await read_variable(gateway, "S1", "SecurityCtrlr", "AdditionalRootCertificateCheck")
    assert gateway.sent == [("GetVariables", {"getVariableData": [
        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "AdditionalRootCertificateCheck"}}]})]
    assert (read.answered, read.status, read.value, read.as_bool(), read.absent) == (True, "Accepted", "true", True,
                                                                                     False)


async def test_a_variable_the_station_does_not_have_is_absent_not_unknown():
    read = await read_variable(FakeGateway(_answer("UnknownVariable")), "S1", "SecurityCtrlr",
                               "AdditionalRootCertificateCheck")
    assert read.absent and read.as_bool() is None


async def test_no_answer_or_an_answer_about_something_else_leaves_it_unknown():
    timeout = await read_variable(FakeGateway(CallOutcome(TIMEOUT, sent=True)), "S1", "SecurityCtrlr", "X")
    other = await read_variable(FakeGateway(_answer("Accepted", "1", variable="Other")), "S1", "SecurityCtrlr",
                                "AdditionalRootCertificateCheck")
    assert (timeout.answered, timeout.status) == (False, TIMEOUT)
    assert (other.answered, other.status) == (False, "missing")
