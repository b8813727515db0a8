"""Block P handler called directly (no socket): no vendor extension is implemented (TC_P_02)."""

from __future__ import annotations

import pytest
from fake_connection import FakeStation

pytestmark = pytest.mark.fast


@pytest.mark.parametrize("payload", [
    {"vendorId": "com.example", "messageId": "x", "data": [1]},
    {"vendorId": "org.openchargealliance.costmsg"},
])
async def test_every_vendor_is_unknown(ctx, payload):
    assert await FakeStation(ctx, "CS-1").send("DataTransfer", payload) == {"status": "UnknownVendorId"}
