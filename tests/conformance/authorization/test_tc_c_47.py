"""TC_C_47_CSMS — Stop transactions with a master pass, station with a UI, all transactions
(C16): the master pass is Accepted with groupIdToken = MasterPassGroupId (so the station knows
it for one), and each transaction it stops is answered Accepted with that group."""

from __future__ import annotations

from authorization_support import master_pass, stop
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_c_47_master_pass_stops_all_transactions(csms):
    station = await master_pass(csms, "TC-C-47")
    for transaction, evse in (("TX-1", 1), ("TX-2", 2)):
        info = (await stop(station, transaction, evse))["idTokenInfo"]
        assert info["status"] == "Accepted" and info["groupIdToken"]["idToken"] == "MASTERPASS"
