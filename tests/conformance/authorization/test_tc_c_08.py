"""TC_C_08_CSMS — A token the station authorized from its cache is re-checked (C12): the
transaction starts offline-authorized, the TransactionEventRequest carries the idToken, and the
CSMS answers idTokenInfo Accepted for a token it knows as Accepted."""

from __future__ import annotations

from authorization_support import add_token, booted_station, transaction_event
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_c_08_cached_token_rechecked_in_transaction_event(csms):
    await add_token(csms, "04CACHED", language1="en")
    station = await booted_station(csms, "TC-C-08")
    await station.call("TransactionEvent", transaction_event("Started", "CablePluggedIn", 0, "TX-C08"))
    answer = await station.call("TransactionEvent", transaction_event("Updated", "Authorized", 1, "TX-C08",
                                                                      id_token="04CACHED"))
    assert answer["idTokenInfo"]["status"] == "Accepted"
    assert answer["idTokenInfo"]["language1"] == "en"
