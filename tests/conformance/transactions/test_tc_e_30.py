"""TC_E_30 — Check transaction status: transaction ended, no messages queued (E14, C-16).

After the transaction ended (and its Ended event was answered), GetTransactionStatus with its
transactionId: the station answers ongoingIndicator false, messagesInQueue false; the CSMS reads
and keeps the answer, and the transaction is shown ended.
"""

from __future__ import annotations

from charging_support import answers_status, ask_status, session_started, shown, status_answers
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_e_30_status_of_an_ended_transaction(csms):
    charging = await session_started(csms, "TC-E-30")
    await charging.stop("StopAuthorized", "Local")
    answers_status(charging, ongoing=set())

    result = await ask_status(csms, "TC-E-30", charging.transaction_id)

    assert (result["ongoing_indicator"], result["messages_in_queue"]) == (False, False)
    assert status_answers(csms, "TC-E-30") == [(charging.transaction_id, False, False)]
    assert (await shown(csms, "TC-E-30", charging.transaction_id))["state"] == "ended"


async def test_tc_e_30_asked_as_a_stored_job_the_answer_is_kept_too(csms):
    charging = await session_started(csms, "TC-E-30-JOB")
    await charging.stop("StopAuthorized", "Local")
    answers_status(charging, ongoing=set())

    stored = await csms.rest.post("/api/v1/stations/TC-E-30-JOB/commands/GetTransactionStatus?mode=job",
                                  json={"transaction_id": charging.transaction_id}, headers=csms.headers("operator"))
    assert stored.status_code == 202, stored.text

    await csms.until(lambda: status_answers(csms, "TC-E-30-JOB") != [])
    assert status_answers(csms, "TC-E-30-JOB") == [(charging.transaction_id, False, False)]
