"""Shared steps of the remote control, availability, reservation and cost cases (F, G, H, I):
a booted simulated station that reports its connectors (the Booted state of P6e3 §3.18), the
TransactionEvents it sends itself, its scripted answers, and the operator's REST calls."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from trust_anchor_support import booted

from simulator.station import SimulatedStation

ID_TOKEN = {"idToken": "04A2B3C4D5E6F7", "type": "ISO14443"}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


async def booted_station(csms, station_id: str, *, connectors: int = 1) -> SimulatedStation:
    """Booted, and each connector reported Available both ways (StatusNotification and NotifyEvent)."""
    station = await booted(csms, station_id, profile=1)
    for evse_id in range(1, connectors + 1):
        await report(station, evse_id, 1, "Available")
    return station


async def report(station: SimulatedStation, evse_id: int, connector_id: int, status: str) -> None:
    """A connector's status, as a 2.0.1 station reports it: StatusNotification and NotifyEvent."""
    assert await station.status_notification(evse_id, connector_id, status) == {}
    assert await station.call("NotifyEvent", {"generatedAt": now(), "seqNo": 0, "eventData": [{
        "eventId": 1, "timestamp": now(), "trigger": "Delta", "actualValue": status,
        "eventNotificationType": "HardWiredNotification",
        "component": {"name": "Connector", "evse": {"id": evse_id, "connectorId": connector_id}},
        "variable": {"name": "AvailabilityState"}}]}) == {}


class Transactions:
    """The TransactionEvents a station sends for one transaction, numbered as it numbers them."""

    def __init__(self, station: SimulatedStation, evse_id: int = 1, transaction_id: str | None = None) -> None:
        self.station = station
        self.evse_id = evse_id
        self.transaction_id = transaction_id or str(uuid.uuid4())
        self._seq = itertools.count()

    async def send(self, event_type: str, trigger: str, *, energy_wh: float | None = None,
                   timestamp: str | None = None, info: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "eventType": event_type, "timestamp": timestamp or now(), "triggerReason": trigger,
            "seqNo": next(self._seq), "evse": {"id": self.evse_id, "connectorId": 1},
            "transactionInfo": {"transactionId": self.transaction_id, **(info or {})}, **extra}
        if energy_wh is not None:
            payload["meterValue"] = [{"timestamp": payload["timestamp"], "sampledValue": [{
                "value": energy_wh, "measurand": "Energy.Active.Import.Register",
                "context": "Transaction.Begin" if event_type == "Started" else
                           "Transaction.End" if event_type == "Ended" else "Sample.Periodic"}]}]
        return await self.station.call("TransactionEvent", payload)


def answer(station: SimulatedStation, action: str, reply: dict[str, Any], then=None) -> None:
    """Script the station's answer to ``action``; ``then(station, payload)`` returns a coroutine
    sent once the answer is on the wire (what the station does next)."""
    def handler(st, payload):
        if then is not None:
            st.after_reply(lambda: then(st, payload))
        return reply
    station.handlers[action] = handler


def received(station: SimulatedStation, action: str) -> list[dict]:
    return [payload for name, payload in station.received if name == action]


async def command(csms, station_id: str, action: str, body: dict[str, Any] | None = None, *,
                  role: str = "operator") -> httpx.Response:
    return await csms.rest.post(f"/api/v1/stations/{station_id}/commands/{action}", json=body,
                                headers=csms.headers(role))


async def get(csms, path: str, role: str = "auditor") -> Any:
    response = await csms.rest.get(path, headers=csms.headers(role))
    assert response.status_code == 200, response.text
    return response.json()


async def eventually(check, timeout: float = 5) -> Any:
    """The value of ``check()`` once it is truthy (something the CSMS does after an answer)."""
    async with asyncio.timeout(timeout):
        while not (value := await check()):
            await asyncio.sleep(0.05)
    return value


def rest_token(token: dict[str, str] = ID_TOKEN) -> dict[str, str]:
    """An idToken as the REST bodies take it (snake_case fields)."""
    return {"id_token": token["idToken"], "type": token["type"]}


async def remote_start(csms, station_id: str, **body: Any) -> httpx.Response:
    return await csms.rest.post(f"/api/v1/stations/{station_id}/remote-starts",
                                json={"id_token": rest_token(), **body}, headers=csms.headers())


async def remote_start_row(csms, station_id: str, status: str) -> dict[str, Any]:
    """The newest remote start of the station once it has ``status``."""
    async def reached():
        rows = await get(csms, f"/api/v1/stations/{station_id}/remote-starts")
        return rows[0] if rows and rows[0]["status"] == status else None
    return await eventually(reached)


async def trigger(csms, station, requested: str, evse: dict[str, int] | None = None, *, status: str = "Accepted",
                  then=None) -> tuple[httpx.Response, list]:
    """The operator's TriggerMessage; the station answers ``status`` and then sends what
    ``then(station, payload)`` sends. Returns the REST answer and the CSMS's answers to the
    triggered messages (filled once they are sent)."""
    answers: list = []

    async def follow(st, payload):
        answers.append(await then(st, payload))
    answer(station, "TriggerMessage", {"status": status}, then=follow if then else None)
    body: dict[str, Any] = {"requested_message": requested}
    if evse is not None:
        body["evse"] = evse
    return await command(csms, station.identity, "TriggerMessage", body), answers


def meter_values(evse_id: int, context: str = "Trigger") -> dict[str, Any]:
    return {"evseId": evse_id, "meterValue": [{"timestamp": now(), "sampledValue": [
        {"value": 1234.0, "measurand": "Energy.Active.Import.Register", "context": context}]}]}


async def change_availability(csms, station, operational_status: str, evse: dict[str, int] | None = None, *,
                              status: str = "Accepted", then=None) -> httpx.Response:
    """The operator's ChangeAvailability; the station answers ``status``, then does ``then``."""
    answer(station, "ChangeAvailability", {"status": status}, then=then)
    body: dict[str, Any] = {"operational_status": operational_status}
    if evse is not None:
        body["evse"] = evse
    return await command(csms, station.identity, "ChangeAvailability", body)


async def states(csms, station_id: str) -> dict[tuple[int, int], str | None]:
    rows = await get(csms, f"/api/v1/stations/{station_id}/connectors")
    return {(row["evse_id"], row["connector_id"]): row["status"] for row in rows}


async def latest_change(csms, station_id: str) -> dict[str, Any]:
    return (await get(csms, f"/api/v1/stations/{station_id}/availability-changes"))[0]


def in_minutes(minutes: int) -> str:
    return (datetime.now(timezone.utc) + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


async def reserve(csms, station, *, status: str = "Accepted", **body: Any) -> httpx.Response:
    """The operator's reservation (ReserveNow with an id the CSMS draws); the station answers ``status``."""
    answer(station, "ReserveNow", {"status": status})
    return await csms.rest.post(f"/api/v1/stations/{station.identity}/reservations",
                                json={"expiry_date_time": in_minutes(30), "id_token": rest_token(), **body},
                                headers=csms.headers())


async def reservation(csms, station_id: str, reservation_id: int) -> dict[str, Any]:
    rows = await get(csms, f"/api/v1/stations/{station_id}/reservations")
    (row,) = [r for r in rows if r["reservation_id"] == reservation_id]
    return row


async def set_tariff(csms, station_id: str | None, **prices: str) -> httpx.Response:
    """An officer sets the station's tariff (or the default one, ``station_id`` None)."""
    path = f"/api/v1/stations/{station_id}/tariff" if station_id else "/api/v1/tariffs/default"
    response = await csms.rest.put(path, json={"currency": "EUR", **prices}, headers=csms.headers("officer"))
    assert response.status_code in (200, 201), response.text
    return response


async def availability_case(csms, case: str, operational_status: str, evse: dict[str, int] | None, *,
                            answered: str = "Accepted", before: str = "Available", after: str,
                            transaction: bool = False) -> dict[str, Any]:
    """A ChangeAvailability case of §5.5: the station booted (connector 1 ``before``, a transaction
    running with ``transaction``), the operator's request, the station's answer ``answered`` and its
    report of connector 1 as ``after``. Checks that the CSMS kept the answer with the request and
    the reported status; returns the request the station received."""
    station = await booted_station(csms, case)
    if before != "Available":
        await report(station, 1, 1, before)
    if transaction:
        await Transactions(station).send("Started", "CablePluggedIn", info={"chargingState": "Charging"})

    sent = await change_availability(csms, station, operational_status, evse, status=answered,
                                     then=lambda st, _payload: report(st, 1, 1, after))

    assert sent.status_code == 200 and sent.json()["result"]["status"] == answered, sent.text
    (request,) = received(station, "ChangeAvailability")
    change = await latest_change(csms, case)
    assert (change["answer"], change["operational_status"]) == (answered, operational_status)
    assert (change["evse_id"], change["connector_id"]) == ((evse or {}).get("id"), (evse or {}).get("connector_id"))

    async def reported():
        return (await states(csms, case)).get((1, 1)) == after
    await eventually(reported)
    return request


async def triggered(csms, case: str, requested: str, evse: dict[str, int] | None = None, *, then,
                    setup=None) -> tuple[list, list]:
    """A TriggerMessage case of §5.4: a booted station (``setup(station)`` first, when given)
    accepts the trigger and sends what ``then(station, payload)`` sends. Returns the
    TriggerMessage requests it received and the CSMS's answers to what it sent."""
    station = await booted_station(csms, case)
    if setup is not None:
        await setup(station)
    sent, answers = await trigger(csms, station, requested, evse, then=then)
    assert sent.status_code == 200 and sent.json()["result"]["status"] == "Accepted", sent.text

    async def done():
        return answers
    await eventually(done)
    return received(station, "TriggerMessage"), answers


async def status_trigger_case(csms, case: str, status: str) -> list:
    """TC_F_23/24: StatusNotification of connector 1 (reported ``status`` before and after)."""
    async def setup(station):
        await report(station, 1, 1, status)
    requests, _ = await triggered(csms, case, "StatusNotification", {"id": 1, "connector_id": 1}, setup=setup,
                                  then=lambda st, _p: report(st, 1, 1, status))
    assert await states(csms, case) == {(1, 1): status}
    return requests


async def transaction_trigger_case(csms, case: str, evse: dict[str, int] | None) -> tuple[list, list]:
    """TC_F_13/14: a running transaction; the triggered TransactionEvent Updated (trigger Trigger)."""
    transaction: dict[str, Transactions] = {}

    async def setup(station):
        transaction["it"] = Transactions(station)
        await transaction["it"].send("Started", "CablePluggedIn", info={"chargingState": "Charging"})
    return await triggered(csms, case, "TransactionEvent", evse, setup=setup, then=lambda _st, _p: transaction[
        "it"].send("Updated", "Trigger", energy_wh=1500.0, info={"chargingState": "Charging"}))
