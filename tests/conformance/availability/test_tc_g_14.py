"""TC_G_14_CSMS — Change availability of the whole station while a transaction runs: no `evse`;
the answer Scheduled is kept, and so is the Occupied connector."""

from __future__ import annotations

from core_support import availability_case
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_g_14(csms):
    request = await availability_case(csms, "TC-G-14", "Inoperative", None,
                                      answered="Scheduled", before="Occupied", after="Occupied", transaction=True)
    assert request == {"operationalStatus": "Inoperative"}
