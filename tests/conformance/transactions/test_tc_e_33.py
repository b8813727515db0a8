"""TC_E_33 — Check transaction status without a transactionId, messages queued (E14, C-16).

The station holds queued events of its transaction. GetTransactionStatus without transactionId:
the request carries none, the station answers messagesInQueue true (no ongoingIndicator, which
only an id asks for). After it delivered them, asked again with and without the id: false.
Every answer kept, in order.
"""

from __future__ import annotations

from charging_support import answers_status, ask_status, session_started, status_answers
from ocpp_support import csms  # noqa: F401 - fixture
from trust_anchor_support import requests


async def test_tc_e_33_status_without_id_while_messages_are_queued(csms):
    charging = await session_started(csms, "TC-E-33")
    charging.tick(300)
    await charging.update("MeterValuePeriodic", meter=[charging.meter_value("Sample.Periodic")], offline=True)
    answers_status(charging, ongoing={charging.transaction_id})

    first = await ask_status(csms, "TC-E-33")
    assert first["messages_in_queue"] is True and first.get("ongoing_indicator") is None

    await charging.flush()
    assert (await ask_status(csms, "TC-E-33"))["messages_in_queue"] is False
    assert (await ask_status(csms, "TC-E-33", charging.transaction_id))["messages_in_queue"] is False
    assert requests(charging.station, "GetTransactionStatus") == [{}, {}, {"transactionId": charging.transaction_id}]
    assert status_answers(csms, "TC-E-33") == [(None, True, None), (None, False, None),
                                              (charging.transaction_id, False, True)]
