"""TC_C_20_CSMS — TransactionEvent (Authorized) with a token the CSMS does not know or holds
invalid (C12): idTokenInfo Unknown or Invalid, so the station stops the energy transfer."""

from __future__ import annotations

import pytest
from authorization_support import add_token, booted_station, transaction_event
from ocpp_support import csms  # noqa: F401 - fixture


@pytest.mark.parametrize("stored", [None, "Invalid"])
async def test_tc_c_20_unknown_or_invalid_token_in_transaction_event(csms, stored):
    if stored:
        await add_token(csms, "04UNKNOWN", status=stored)
    station = await booted_station(csms, "TC-C-20")
    answer = await station.call("TransactionEvent", transaction_event("Started", "Authorized", 0, "TX-C20",
                                                                      id_token="04UNKNOWN"))
    assert answer["idTokenInfo"]["status"] in ("Unknown", "Invalid")
