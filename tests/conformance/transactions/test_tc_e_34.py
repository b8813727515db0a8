"""TC_E_34 — Check transaction status of a transaction the station does not know (E14, C-16).

GetTransactionStatus with a transactionId the station never had: it answers ongoingIndicator
false, messagesInQueue false. The CSMS reads and keeps the answer; no transaction row is made
for an id no station reported.
"""

from __future__ import annotations

from charging_support import answers_status, ask_status, charging_station, status_answers
from ocpp_support import csms  # noqa: F401 - fixture
from sqlmodel import select

from api.core.audit import run_in_session
from storage.transactions import Transaction


async def test_tc_e_34_status_of_an_unknown_transaction(csms):
    charging = await charging_station(csms, "TC-E-34")
    answers_status(charging, ongoing=set())

    result = await ask_status(csms, "TC-E-34", "never-started-0034")

    assert (result["ongoing_indicator"], result["messages_in_queue"]) == (False, False)
    assert status_answers(csms, "TC-E-34") == [("never-started-0034", False, False)]
    assert run_in_session(csms.ctx, lambda s: s.exec(select(Transaction)).all()) == []
