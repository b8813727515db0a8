"""TC_F_20_CSMS — TriggerMessage Heartbeat (F06): the station answers Accepted and sends a
Heartbeat; the CSMS answers with its current time."""

from __future__ import annotations

from core_support import triggered
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_f_20_trigger_heartbeat(csms):
    requests, (heartbeat,) = await triggered(csms, "TC-F-20", "Heartbeat", then=lambda st, _p: st.heartbeat())
    assert requests == [{"requestedMessage": "Heartbeat"}]
    assert "currentTime" in heartbeat
