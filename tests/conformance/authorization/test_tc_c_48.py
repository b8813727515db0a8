"""TC_C_48_CSMS — Stop a specific transaction with a master pass, station with a UI (C16): the
master pass is recognised (groupIdToken = MasterPassGroupId) and the one transaction it stops is
answered Accepted; the other keeps running and its events are answered as before."""

from __future__ import annotations

from authorization_support import master_pass, stop, transaction_event
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_c_48_master_pass_stops_one_transaction(csms):
    station = await master_pass(csms, "TC-C-48")
    info = (await stop(station, "TX-2", 2))["idTokenInfo"]
    assert info["status"] == "Accepted" and info["groupIdToken"]["idToken"] == "MASTERPASS"
    running = await station.call("TransactionEvent", transaction_event("Updated", "MeterValuePeriodic", 1, "TX-1"))
    assert "idTokenInfo" not in running
