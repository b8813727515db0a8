"""TC_F_12_CSMS — TriggerMessage MeterValues for all EVSEs (F06, C-29.1): no `evse` in the
request; the station sends MeterValues for each EVSE, each answered."""

from __future__ import annotations

from core_support import booted_station, eventually, meter_values, received, trigger
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_f_12_trigger_meter_values_of_every_evse(csms):
    station = await booted_station(csms, "TC-F-12", connectors=2)

    async def every_evse(st, _payload):
        return [await st.call("MeterValues", meter_values(evse_id)) for evse_id in (1, 2)]
    sent, answers = await trigger(csms, station, "MeterValues", then=every_evse)

    assert sent.json()["result"]["status"] == "Accepted", sent.text
    assert received(station, "TriggerMessage") == [{"requestedMessage": "MeterValues"}]

    async def done():
        return answers
    assert await eventually(done) == [[{}, {}]]
