"""TC_G_07_CSMS — Change availability of a connector to Inoperative (G05 of the use-case list,
G03 flow): the request names evse.id and evse.connectorId."""

from __future__ import annotations

from core_support import availability_case
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_g_07(csms):
    request = await availability_case(csms, "TC-G-07", "Inoperative", {"id": 1, "connector_id": 1},
                                      after="Unavailable")
    assert request == {"operationalStatus": "Inoperative", "evse": {"id": 1, "connectorId": 1}}
