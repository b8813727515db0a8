"""Functional block N — NotifyCustomerInformation (N09/N10): the station's report on a customer,
in parts, kept under the CustomerInformation request it answers."""

from __future__ import annotations

import logging
from typing import Any

from api.csms.customer_information import service
from api.ocpp.handler import StationCall

log = logging.getLogger("chargeca.ocpp.diagnostics")


async def notify_customer_information(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    # Customer data is personal data: only its bookkeeping goes to the log.
    repeats = call.live.repeats
    if (times := repeats.log_line("customer_information")) is not None:
        log.info("customer information %s part %s from %s%s", payload["requestId"], payload["seqNo"],
                 call.station_id, times)
    policy = call.ctx.policy.customer_information
    kept = await call.db(lambda session: service.record_part(session, call.station_id, payload, policy))
    if not kept.known and (times := repeats.log_line("customer_information.unknown")) is not None:
        log.warning("%s sent customer information for request %s, which we never sent: not kept%s",
                    call.station_id, payload["requestId"], times)
    elif kept.known and not kept.stored and (times := repeats.log_line("customer_information.dropped")) is not None:
        log.warning("%s: customer information %s part %s not kept (a part already kept, or beyond %d parts)%s",
                    call.station_id, payload["requestId"], payload["seqNo"], policy.parts_per_request, times)
    return {}
