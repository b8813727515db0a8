"""TC_C_39_CSMS — Authorization by GroupId (C09): a token of a group is Accepted WITH its
groupIdToken, both in the AuthorizeResponse and in the TransactionEventResponse."""

from __future__ import annotations

from authorization_support import add_token, booted_station, transaction_event
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_c_39_group_id_in_both_answers(csms):
    await add_token(csms, "04GROUP01", group_id_token="FLEET-42")
    station = await booted_station(csms, "TC-C-39")
    group = {"idToken": "FLEET-42", "type": "Central"}

    authorized = await station.call("Authorize", {"idToken": {"idToken": "04GROUP01", "type": "ISO14443"}})
    event = await station.call("TransactionEvent", transaction_event("Started", "Authorized", 0, "TX-C39",
                                                                     id_token="04GROUP01"))

    assert authorized["idTokenInfo"] == {"status": "Accepted", "groupIdToken": group}
    assert event["idTokenInfo"] == {"status": "Accepted", "groupIdToken": group}
