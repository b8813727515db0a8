"""A charging session as a station runs it: plug in, authorize, start, meter, stop.

``Charging`` drives one EVSE of a ``SimulatedStation`` through the messages a real station sends
for it (Authorize, StatusNotification, NotifyEvent, TransactionEvent with its seqNo counted per
transaction, the meter register rising with the energy delivered). Each step takes the trigger
and state the scenario calls for, so the same script plays every TxStartPoint and TxStopPoint.
The station's clock is simulated (``tick``), so what is sent is the same at every run.

A transaction can also be driven while "offline": events are queued instead of sent
(``offline=True``) and delivered later with ``flush``, flagged offline as E04 requires.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from simulator.station import SimulatedStation

REGISTER = "Energy.Active.Import.Register"


def timestamp(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Charging:
    station: SimulatedStation
    evse_id: int = 1
    connector_id: int = 1
    clock: datetime = field(default_factory=lambda: datetime(2025, 6, 1, 12, tzinfo=timezone.utc))
    register_wh: float = 0.0
    transaction_id: str | None = None
    seq_no: int = 0
    # Events made while offline, sent by ``flush``.
    queued: list[dict[str, Any]] = field(default_factory=list)
    # Every TransactionEvent sent and its answer, in order.
    sent: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    def tick(self, seconds: float) -> None:
        self.clock += timedelta(seconds=seconds)

    def charge(self, wh: float) -> None:
        self.register_wh += wh

    @property
    def now(self) -> str:
        return timestamp(self.clock)

    def meter_value(self, context: str, *, signed: dict[str, str] | None = None,
                    extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The register now (Wh) in ``context``, and any ``extra`` sampledValues."""
        register: dict[str, Any] = {"value": self.register_wh, "context": context, "measurand": REGISTER,
                                    "unitOfMeasure": {"unit": "Wh"}}
        if signed:
            register["signedMeterValue"] = signed
        return {"timestamp": self.now, "sampledValue": [register, *(extra or [])]}

    # --- what the driver does --------------------------------------------------------------------

    async def authorize(self, id_token: dict[str, Any]) -> dict[str, Any]:
        return await self.station.call("Authorize", {"idToken": id_token})

    async def connector(self, status: str) -> None:
        """The connector's status, both ways a station reports it (StatusNotification, NotifyEvent)."""
        await self.station.call("StatusNotification", {"timestamp": self.now, "connectorStatus": status,
                                                       "evseId": self.evse_id, "connectorId": self.connector_id})
        await self.station.call("NotifyEvent", {"generatedAt": self.now, "seqNo": 0, "eventData": [{
            "eventId": 1, "timestamp": self.now, "trigger": "Delta", "actualValue": status,
            "eventNotificationType": "HardWiredNotification",
            "component": {"name": "Connector", "evse": {"id": self.evse_id, "connectorId": self.connector_id}},
            "variable": {"name": "AvailabilityState"}}]})

    # --- the transaction -------------------------------------------------------------------------

    async def start(self, trigger: str, *, charging_state: str | None = None, id_token: dict[str, Any] | None = None,
                    with_evse: bool = True, meter: list[dict[str, Any]] | None = None,
                    transaction_id: str | None = None, **extra: Any) -> dict[str, Any]:
        """A new transaction: a new id, seqNo from 0 again (TC_E_53)."""
        self.transaction_id = transaction_id or str(uuid.uuid4())
        self.seq_no = 0
        return await self.event("Started", trigger, charging_state=charging_state, id_token=id_token,
                                with_evse=with_evse, meter=meter, **extra)

    async def update(self, trigger: str, **options: Any) -> dict[str, Any]:
        return await self.event("Updated", trigger, **options)

    async def stop(self, trigger: str, stopped_reason: str, **options: Any) -> dict[str, Any]:
        return await self.event("Ended", trigger, stopped_reason=stopped_reason, **options)

    async def event(self, event_type: str, trigger: str, *, charging_state: str | None = None,
                    stopped_reason: str | None = None, id_token: dict[str, Any] | None = None,
                    with_evse: bool = False, meter: list[dict[str, Any]] | None = None,
                    offline: bool = False, **extra: Any) -> dict[str, Any]:
        """One TransactionEvent of the current transaction; its answer ({} while offline)."""
        if self.transaction_id is None:
            raise RuntimeError("no transaction: start one first")
        info: dict[str, Any] = {"transactionId": self.transaction_id}
        if charging_state:
            info["chargingState"] = charging_state
        if stopped_reason:
            info["stoppedReason"] = stopped_reason
        for name in ("remoteStartId", "timeSpentCharging"):
            if name in extra:
                info[name] = extra.pop(name)
        payload: dict[str, Any] = {"eventType": event_type, "timestamp": self.now, "triggerReason": trigger,
                                   "seqNo": self.seq_no, "transactionInfo": info, **extra}
        self.seq_no += 1
        if with_evse:
            payload["evse"] = {"id": self.evse_id, "connectorId": self.connector_id}
        if id_token is not None:
            payload["idToken"] = id_token
        if meter:
            payload["meterValue"] = meter
        if offline:
            self.queued.append({**payload, "offline": True})
            return {}
        return await self.send(payload)

    async def send(self, payload: dict[str, Any]) -> dict[str, Any]:
        answer = await self.station.call("TransactionEvent", payload)
        self.sent.append((payload, answer))
        return answer

    async def flush(self) -> list[dict[str, Any]]:
        """Send what was queued while offline, oldest first; the answers."""
        queued, self.queued = self.queued, []
        return [await self.send(payload) for payload in queued]

    async def meter_values(self, context: str, *, evse_id: int | None = None,
                           signed: dict[str, str] | None = None) -> dict[str, Any]:
        """A MeterValues message (J01): the register of ``evse_id`` (this EVSE by default)."""
        return await self.station.call("MeterValues", {"evseId": self.evse_id if evse_id is None else evse_id,
                                                       "meterValue": [self.meter_value(context, signed=signed)]})
