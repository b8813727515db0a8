"""TC_F_11_CSMS — TriggerMessage MeterValues for a specific EVSE (F06, C-29.1): the request
names `evse.id`; the station's triggered MeterValues is answered."""

from __future__ import annotations

from core_support import meter_values, triggered
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_f_11_trigger_meter_values_of_one_evse(csms):
    requests, answers = await triggered(csms, "TC-F-11", "MeterValues", {"id": 1},
                                        then=lambda st, _p: st.call("MeterValues", meter_values(1)))
    assert requests == [{"requestedMessage": "MeterValues", "evse": {"id": 1}}]
    assert answers == [{}]
