"""TC_F_11_CSMS — TriggerMessage MeterValues for a specific EVSE (F06, C-29.1): the request
names `evse.id`; the station's triggered MeterValues is answered."""

from __future__ import annotations

from core_support import booted_station, eventually, meter_values, received, trigger
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_f_11_trigger_meter_values_of_one_evse(csms):
    station = await booted_station(csms, "TC-F-11")

    sent, answers = await trigger(csms, station, "MeterValues", {"id": 1},
                                  then=lambda st, _p: st.call("MeterValues", meter_values(1)))

    assert sent.status_code == 200 and sent.json()["result"]["status"] == "Accepted", sent.text
    assert received(station, "TriggerMessage") == [{"requestedMessage": "MeterValues", "evse": {"id": 1}}]

    async def done():
        return answers
    assert await eventually(done) == [{}]
