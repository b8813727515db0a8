"""Block E handler called directly (no socket): TransactionEvent answers the token question
exactly when the event asks it (it carries an idToken)."""

from __future__ import annotations

import pytest
from fake_connection import FakeStation

pytestmark = pytest.mark.fast

STARTED = {"eventType": "Started", "timestamp": "2025-06-01T12:00:00Z", "triggerReason": "Authorized",
           "seqNo": 0, "transactionInfo": {"transactionId": "tx-1"}}


@pytest.mark.parametrize("token, status", [
    ({"idToken": "04A1B2C3", "type": "ISO14443"}, "Unknown"),
    ({"idToken": "", "type": "NoAuthorization"}, "Accepted"),
])
async def test_an_event_with_a_token_gets_its_verdict(ctx, token, status):
    answer = await FakeStation(ctx, "CS-1").send("TransactionEvent", {**STARTED, "idToken": token})
    assert answer == {"idTokenInfo": {"status": status}}


@pytest.mark.parametrize("event_type, trigger", [("Updated", "MeterValuePeriodic"), ("Ended", "EVDeparted")])
async def test_an_event_without_a_token_gets_an_empty_answer(ctx, event_type, trigger):
    event = {**STARTED, "eventType": event_type, "triggerReason": trigger, "seqNo": 1}
    assert await FakeStation(ctx, "CS-1").send("TransactionEvent", event) == {}
