"""TC_B_12_CSMS — GetBaseReport ConfigurationInventory (B07): requestId >= 0, the reportBase
asked; every NotifyReport of the stream acknowledged and kept, the report complete."""

from __future__ import annotations

from ocpp_support import tls_csms  # noqa: F401 - fixture
from provisioning_support import base_report_case


async def test_tc_b_12(tls_csms):
    await base_report_case(tls_csms, "TC-B-12", "ConfigurationInventory", 2)
