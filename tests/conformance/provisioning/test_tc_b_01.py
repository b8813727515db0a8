"""TC_B_01_CSMS — Cold boot Accepted (B01.FR.02): the Booted state, connector status by
StatusNotification and NotifyEvent, both answered."""

from __future__ import annotations

from ocpp_support import NOTIFY_EVENT, csms  # noqa: F401 - fixture
from provisioning_support import booted_with_policy


async def test_tc_b_01_cold_boot_accepted(csms):
    station = await booted_with_policy(csms, "TC-B-01")
    answer = await station.boot("PowerUp")
    assert answer["status"] == "Accepted" and answer["interval"] > 0
    # Reusable state Booted: connector status by StatusNotification and NotifyEvent, both answered.
    assert await station.status_notification(1, 1, "Available") == {}
    assert await station.call("NotifyEvent", NOTIFY_EVENT) == {}
