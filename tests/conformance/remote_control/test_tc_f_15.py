"""TC_F_15_CSMS — TriggerMessage LogStatusNotification (F06, C-29.3): the station answers
Accepted and reports its log upload status Idle; the CSMS answers it."""

from __future__ import annotations

from core_support import triggered
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_f_15_trigger_log_status_notification(csms):
    requests, answers = await triggered(csms, "TC-F-15", "LogStatusNotification",
                                        then=lambda st, _p: st.call("LogStatusNotification", {"status": "Idle"}))
    assert requests == [{"requestedMessage": "LogStatusNotification"}]
    assert answers == [{}]
