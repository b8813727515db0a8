"""Functional block J — Meter values: MeterValues (J01-J03), signed or not (TC_J_04).

Stored before they are answered, one row per sampledValue, signed data byte-exact. A database
that cannot take them gets a CALLERROR, not an acknowledgement: the station then still has them.
"""

from __future__ import annotations

from typing import Any

from api.csms.meter_values import service
from api.csms.meter_values.samples import samples
from api.ocpp.handler import StationCall


async def meter_values(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    read = samples(payload["meterValue"])
    station_id, evse_id = call.station_id, payload["evseId"]
    await call.db_grouped(lambda session: service.store(session, station_id, evse_id, read))
    return {}
