"""TC_F_13_CSMS — TriggerMessage TransactionEvent for a specific EVSE (F06, C-29.2): the request
names evse.id; while a transaction runs the station sends TransactionEvent Updated with
triggerReason Trigger, which the CSMS answers."""

from __future__ import annotations

from core_support import transaction_trigger_case
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_f_13_trigger_transaction_event_of_one_evse(csms):
    requests, answers = await transaction_trigger_case(csms, "TC-F-13", {"id": 1})
    assert requests == [{"requestedMessage": "TransactionEvent", "evse": {"id": 1}}]
    assert answers == [{}]
