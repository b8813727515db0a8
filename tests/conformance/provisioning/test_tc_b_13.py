"""TC_B_13_CSMS — GetBaseReport FullInventory, operator-triggered (B07): requestId >= 0; the
NotifyReport stream acknowledged and kept. A report request with an unknown reportBase never leaves."""

from __future__ import annotations

from ocpp_support import tls_csms  # noqa: F401 - fixture
from provisioning_support import base_report_case
from trust_anchor_support import booted, requests


async def test_tc_b_13(tls_csms):
    await base_report_case(tls_csms, "TC-B-13", "FullInventory", 4)


async def test_a_report_request_with_an_unknown_report_base_never_leaves(tls_csms):
    station = await booted(tls_csms, "TC-B-13-BAD")
    answer = await tls_csms.post_call("TC-B-13-BAD", "GetBaseReport", {"requestId": 1, "reportBase": "Everything"})
    assert answer.status_code == 422 and answer.json()["field"].startswith("payload")
    assert requests(station, "GetBaseReport") == []
