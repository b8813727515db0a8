"""TC_G_05_CSMS — Change availability of the whole station to Inoperative (G04): the request
carries no `evse` at all; every connector goes Unavailable."""

from __future__ import annotations

from core_support import availability_case
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_g_05(csms):
    request = await availability_case(csms, "TC-G-05", "Inoperative", None,
                                      after="Unavailable")
    assert request == {"operationalStatus": "Inoperative"}
