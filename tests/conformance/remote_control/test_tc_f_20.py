"""TC_F_20_CSMS — TriggerMessage Heartbeat (F06): the station answers Accepted and sends a
Heartbeat; the CSMS answers with its current time."""

from __future__ import annotations

from core_support import booted_station, eventually, received, trigger
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_f_20_trigger_heartbeat(csms):
    station = await booted_station(csms, "TC-F-20")

    sent, answers = await trigger(csms, station, "Heartbeat", then=lambda st, _p: st.heartbeat())

    assert sent.json()["result"]["status"] == "Accepted", sent.text
    assert received(station, "TriggerMessage") == [{"requestedMessage": "Heartbeat"}]

    async def done():
        return answers
    (heartbeat,) = await eventually(done)
    assert "currentTime" in heartbeat
