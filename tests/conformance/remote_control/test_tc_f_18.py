"""TC_F_18_CSMS — TriggerMessage FirmwareStatusNotification (F06, C-29.4): the station answers
Accepted and reports its firmware status Idle; the CSMS answers it."""

from __future__ import annotations

from core_support import booted_station, eventually, received, trigger
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_f_18_trigger_firmware_status_notification(csms):
    station = await booted_station(csms, "TC-F-18")

    sent, answers = await trigger(csms, station, "FirmwareStatusNotification",
                                  then=lambda st, _p: st.call("FirmwareStatusNotification", {"status": "Idle"}))

    assert sent.json()["result"]["status"] == "Accepted", sent.text
    assert received(station, "TriggerMessage") == [{"requestedMessage": "FirmwareStatusNotification"}]

    async def done():
        return answers
    assert await eventually(done) == [{}]
