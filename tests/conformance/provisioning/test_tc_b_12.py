"""TC_B_12_CSMS — GetBaseReport ConfigurationInventory (B07): requestId >= 0, the reportBase
asked; every NotifyReport of the stream acknowledged and kept, the report complete."""

from __future__ import annotations

import asyncio

from ocpp_support import tls_csms  # noqa: F401 - fixture
from provisioning_support import get, report_row, streams_its_report
from trust_anchor_support import booted, requests


async def test_tc_b_12(tls_csms):
    station = await booted(tls_csms, "TC-B-12")
    acknowledged = streams_its_report(station, 2)

    answer = await tls_csms.post_call("TC-B-12", "GetBaseReport", {"requestId": 12, "reportBase": "ConfigurationInventory"})

    assert answer.status_code == 200, answer.text
    assert answer.json()["response"] == {"status": "Accepted"}
    (sent,) = requests(station, "GetBaseReport")
    assert sent["requestId"] >= 0 and sent["reportBase"] == "ConfigurationInventory"
    assert await asyncio.wait_for(acknowledged, 5) == [{}] * 2  # every part acknowledged
    report = await report_row(tls_csms, "TC-B-12", 12)
    assert (report["kind"], report["report_base"], report["answer"], report["status"], report["parts"]) == \
        ("GetBaseReport", "ConfigurationInventory", "Accepted", "complete", 2)
    stored = await get(tls_csms, "/api/v1/stations/TC-B-12/device-model?component=SecurityCtrlr")
    assert sorted(row["variable"] for row in stored) == [f"Variable{n}" for n in range(2)]
    assert all(row["attributes"][0]["mutability"] == "ReadOnly" for row in stored)
