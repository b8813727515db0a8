"""TC_E_29 — Check transaction status: ongoing transaction, no messages queued (E14, C-16).

With a transaction charging, the operator asks GetTransactionStatus (REST typed command) with
the transactionId the station reported, and then without one. The CSMS sends exactly that
(transactionId present, then absent); the station answers ongoingIndicator true and
messagesInQueue false, then messagesInQueue false. Both answers are kept.
"""

from __future__ import annotations

from charging_support import answers_status, ask_status, session_started, shown, status_answers
from ocpp_support import csms  # noqa: F401 - fixture
from trust_anchor_support import requests


async def test_tc_e_29_status_of_an_ongoing_transaction_with_and_without_its_id(csms):
    charging = await session_started(csms, "TC-E-29")
    answers_status(charging, ongoing={charging.transaction_id})

    with_id = await ask_status(csms, "TC-E-29", charging.transaction_id)
    without_id = await ask_status(csms, "TC-E-29")

    assert (with_id["ongoing_indicator"], with_id["messages_in_queue"]) == (True, False)
    assert without_id["messages_in_queue"] is False and without_id.get("ongoing_indicator") is None
    assert requests(charging.station, "GetTransactionStatus") == [{"transactionId": charging.transaction_id}, {}]
    assert status_answers(csms, "TC-E-29") == [(charging.transaction_id, False, True), (None, False, None)]
    kept = (await shown(csms, "TC-E-29", charging.transaction_id))["status_answers"]
    assert [(a["messages_in_queue"], a["ongoing_indicator"]) for a in kept] == [(False, True)]
