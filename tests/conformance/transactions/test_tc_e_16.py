"""TC_E_16 — Stop transaction options: Deauthorized, token not accepted (E06 S3, C12).

The transaction starts on the cable; the token the driver presents is not one the CSMS accepts
(it is in no store): the TransactionEvent carrying it is answered with a status other than
Accepted, so the station deauthorizes: Ended with triggerReason Deauthorized, stoppedReason
DeAuthorized. Stored: the refused token seen, ended DeAuthorized.
"""

from __future__ import annotations

from charging_support import charging_station, ev_connected_pre_session, stored
from ocpp_support import csms  # noqa: F401 - fixture

STRANGER = {"idToken": "DEADBEEF0016", "type": "ISO14443"}


async def test_tc_e_16_deauthorized_by_the_csms_verdict(csms):
    charging = await charging_station(csms, "TC-E-16")
    await ev_connected_pre_session(charging)

    answer = await charging.update("Authorized", id_token=STRANGER)
    assert answer["idTokenInfo"]["status"] != "Accepted"

    assert await charging.stop("Deauthorized", "DeAuthorized", charging_state="EVConnected") == {}
    row, events, _ = await stored(csms, "TC-E-16", charging.transaction_id)
    assert (row.stop_trigger, row.stopped_reason, row.id_token) == ("Deauthorized", "DeAuthorized", "DEADBEEF0016")
    assert [e.event_type for e in events] == ["Started", "Updated", "Ended"]
