"""Functional block H — Reservations: ReservationStatusUpdate (H04), the station saying a
reservation expired or was removed."""

from __future__ import annotations

import logging
from typing import Any

from api.csms.reservations import service
from api.ocpp.handler import StationCall

log = logging.getLogger("chargeca.ocpp.reservations")


async def reservation_status_update(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    reservation_id, status = payload["reservationId"], payload["reservationUpdateStatus"]
    known = await call.db(lambda session: service.status_update(session, call.station_id, reservation_id, status))
    # Nothing to update, and nothing a station could grow by sending ids we never issued.
    if not known and (times := call.live.repeats.log_line("reservation.unknown")) is not None:
        log.warning("%s reported reservation %s %s, which we never sent%s", call.station_id, reservation_id, status,
                    times)
    return {}
