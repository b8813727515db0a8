"""TC_F_18_CSMS — TriggerMessage FirmwareStatusNotification (F06, C-29.4): the station reports
its firmware status Idle after accepting; the CSMS answers it."""

from __future__ import annotations

from core_support import triggered
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_f_18_trigger_firmware_status_notification(csms):
    firmware_status = {"status": "Idle"}
    requests, answers = await triggered(csms, "TC-F-18", "FirmwareStatusNotification",
                                        then=lambda st, _p: st.call("FirmwareStatusNotification", firmware_status))
    assert requests == [{"requestedMessage": "FirmwareStatusNotification"}]
    assert answers == [{}]
