"""TC_F_15_CSMS — TriggerMessage LogStatusNotification (F06, C-29.3): the station answers
Accepted and reports its log upload status Idle; the CSMS answers it."""

from __future__ import annotations

from core_support import booted_station, eventually, received, trigger
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_f_15_trigger_log_status_notification(csms):
    station = await booted_station(csms, "TC-F-15")

    sent, answers = await trigger(csms, station, "LogStatusNotification",
                                  then=lambda st, _p: st.call("LogStatusNotification", {"status": "Idle"}))

    assert sent.json()["result"]["status"] == "Accepted", sent.text
    assert received(station, "TriggerMessage") == [{"requestedMessage": "LogStatusNotification"}]

    async def done():
        return answers
    assert await eventually(done) == [{}]
