"""TC_F_14_CSMS — TriggerMessage TransactionEvent for all EVSEs (F06, C-29.2): no `evse` in the
request; the running transaction's triggered Updated event is answered."""

from __future__ import annotations

from core_support import transaction_trigger_case
from ocpp_support import csms  # noqa: F401 - fixture


async def test_tc_f_14_trigger_transaction_event_of_every_evse(csms):
    requests, answers = await transaction_trigger_case(csms, "TC-F-14", None)
    assert requests == [{"requestedMessage": "TransactionEvent"}]
    assert answers == [{}]
