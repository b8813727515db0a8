"""TC_B_13_CSMS — GetBaseReport FullInventory, operator-triggered (B07): requestId >= 0; the
NotifyReport stream acknowledged and kept. A report request with an unknown reportBase never leaves."""

from __future__ import annotations

import asyncio

from ocpp_support import tls_csms  # noqa: F401 - fixture
from provisioning_support import get, report_row, streams_its_report
from trust_anchor_support import booted, requests


async def test_tc_b_13(tls_csms):
    station = await booted(tls_csms, "TC-B-13")
    acknowledged = streams_its_report(station, 4)

    answer = await tls_csms.post_call("TC-B-13", "GetBaseReport", {"requestId": 12, "reportBase": "FullInventory"})

    assert answer.status_code == 200, answer.text
    assert answer.json()["response"] == {"status": "Accepted"}
    (sent,) = requests(station, "GetBaseReport")
    assert sent["requestId"] >= 0 and sent["reportBase"] == "FullInventory"
    assert await asyncio.wait_for(acknowledged, 5) == [{}] * 4  # every part acknowledged
    report = await report_row(tls_csms, "TC-B-13", 12)
    assert (report["kind"], report["report_base"], report["answer"], report["status"], report["parts"]) == \
        ("GetBaseReport", "FullInventory", "Accepted", "complete", 4)
    stored = await get(tls_csms, "/api/v1/stations/TC-B-13/device-model?component=SecurityCtrlr")
    assert sorted(row["variable"] for row in stored) == [f"Variable{n}" for n in range(4)]
    assert all(row["attributes"][0]["mutability"] == "ReadOnly" for row in stored)


async def test_a_report_request_with_an_unknown_report_base_never_leaves(tls_csms):
    station = await booted(tls_csms, "TC-B-13-BAD")
    answer = await tls_csms.post_call("TC-B-13-BAD", "GetBaseReport", {"requestId": 1, "reportBase": "Everything"})
    assert answer.status_code == 422 and answer.json()["field"].startswith("payload")
    assert requests(station, "GetBaseReport") == []
