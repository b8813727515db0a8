"""TC_B_12_CSMS (GetBaseReport ConfigurationInventory) and TC_B_13_CSMS (FullInventory): the
operator path is the generic calls endpoint; the CSMS sends GetBaseReport with requestId ≥ 0
and the reportBase asked for, and acknowledges every NotifyReport of the stream that follows."""

from __future__ import annotations

import asyncio

import pytest
from ocpp_support import tls_csms  # noqa: F401 - fixture
from trust_anchor_support import booted, requests


def _part(request_id: int, seq_no: int, tbc: bool, variable: str, value: str) -> dict:
    return {"requestId": request_id, "generatedAt": "2025-01-01T00:00:00Z", "seqNo": seq_no, "tbc": tbc,
            "reportData": [{"component": {"name": "SecurityCtrlr"}, "variable": {"name": variable},
                            "variableAttribute": [{"type": "Actual", "value": value, "mutability": "ReadOnly"}],
                            "variableCharacteristics": {"dataType": "string", "supportsMonitoring": False}}]}


def _streams_its_report(station, parts: int) -> asyncio.Future:
    """GetBaseReport handler: Accepted, then ``parts`` NotifyReports; the future gets the answers."""
    acknowledged: asyncio.Future = asyncio.get_running_loop().create_future()

    def get_base_report(st, payload):
        async def stream():
            await asyncio.sleep(0)  # after the answer is on the wire
            answers = []
            for seq_no in range(parts):
                answers.append(await st.call("NotifyReport", _part(payload["requestId"], seq_no, seq_no < parts - 1,
                                                                   f"Variable{seq_no}", str(seq_no))))
            acknowledged.set_result(answers)
        st._spawn(stream())
        return {"status": "Accepted"}

    station.handlers["GetBaseReport"] = get_base_report
    return acknowledged


@pytest.mark.parametrize(("case", "report_base", "parts"), [("TC-B-12", "ConfigurationInventory", 2),
                                                            ("TC-B-13", "FullInventory", 4)])
async def test_get_base_report_and_its_notify_report_stream(tls_csms, case, report_base, parts):
    station = await booted(tls_csms, case)
    acknowledged = _streams_its_report(station, parts)

    answer = await tls_csms.post_call(case, "GetBaseReport", {"requestId": 12, "reportBase": report_base})

    assert answer.status_code == 200, answer.text
    assert answer.json()["response"] == {"status": "Accepted"}
    (sent,) = requests(station, "GetBaseReport")
    assert sent["requestId"] >= 0 and sent["reportBase"] == report_base
    assert await asyncio.wait_for(acknowledged, 5) == [{}] * parts  # every part acknowledged


async def test_a_report_request_with_an_unknown_report_base_never_leaves(tls_csms):
    station = await booted(tls_csms, "TC-B-12-BAD")
    answer = await tls_csms.post_call("TC-B-12-BAD", "GetBaseReport", {"requestId": 1, "reportBase": "Everything"})
    assert answer.status_code == 422 and answer.json()["field"].startswith("payload")
    assert requests(station, "GetBaseReport") == []
