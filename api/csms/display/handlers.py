"""Functional block O — NotifyDisplayMessages (O03): the messages a station shows, reported after
our GetDisplayMessages, kept with the ones we set."""

from __future__ import annotations

import logging
from typing import Any

from api.csms.display import service
from api.ocpp.handler import StationCall

log = logging.getLogger("chargeca.ocpp.display")


async def notify_display_messages(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    known = await call.db(lambda session: service.record_report(session, call.station_id, payload))
    if not known and (times := call.live.repeats.log_line("display_report.unknown")) is not None:
        log.warning("%s reported display messages for request %s, which we never sent: not kept%s",
                    call.station_id, payload["requestId"], times)
    return {}
