"""TC_F_12_CSMS — TriggerMessage MeterValues for all EVSEs (F06, C-29.1): no `evse` in the
request; the station sends MeterValues for each of its EVSEs, each answered."""

from __future__ import annotations

from core_support import meter_values, triggered
from ocpp_support import csms  # noqa: F401 - fixture


async def _every_evse(station, _payload):
    return [await station.call("MeterValues", meter_values(evse_id)) for evse_id in (1, 2)]


async def test_tc_f_12_trigger_meter_values_of_every_evse(csms):
    requests, answers = await triggered(csms, "TC-F-12", "MeterValues", then=_every_evse)
    assert requests == [{"requestedMessage": "MeterValues"}]
    assert answers == [[{}, {}]]
