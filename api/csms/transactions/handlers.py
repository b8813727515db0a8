"""Functional block E — Transactions: TransactionEvent (E01-E15).

Every event is stored before it is answered, or journaled where its answer says nothing the store
decides (``answered_without_store``; api/csms/transactions/write_behind.py): the station may drop
it from its queue once answered. The answer carries idTokenInfo exactly when the request carried
an idToken (the authorization question the event asks), and totalCost on Ended (the final cost,
I03) when a tariff applies; the running cost goes by CostUpdated (I02, api/csms/tariff_cost)."""

from __future__ import annotations

import json
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any

from ocpp.v201.enums import ReadingContextEnumType, TransactionEventEnumType
from sqlmodel import Session

from api.csms.authorization import service as authorization
from api.csms.meter_values.samples import samples
from api.csms.tariff_cost import service as tariff_cost
from api.csms.transactions import service
from api.ocpp import framing
from api.ocpp.handler import StationCall, parse_datetime
from storage.types import utcnow

# (station id, event, its payload, the connection's summaries: service.record_many's ``known``)
Item = tuple[str, service.Event, dict[str, Any], dict[str, dict[str, Any]]]
# totalCost "SHALL only be sent when charging has ended" (TransactionEventResponse schema): the
# final cost (I03). The running cost goes by CostUpdated (I04, api/csms/tariff_cost).
_COSTED = frozenset({TransactionEventEnumType.ended.value})
# A sampledValue without a context: the event tells which reading it is.
_CONTEXT_OF = {TransactionEventEnumType.started.value: ReadingContextEnumType.transaction_begin.value,
               TransactionEventEnumType.ended.value: ReadingContextEnumType.transaction_end.value}


def read_event(payload: dict[str, Any]) -> service.Event:
    """The request as stored; raises OcppError for a timestamp that is no date-time."""
    info = payload["transactionInfo"]
    evse = payload.get("evse", {})
    token = payload.get("idToken", {})
    event_type = payload["eventType"]
    context = _CONTEXT_OF.get(event_type, ReadingContextEnumType.sample_periodic.value)
    return service.Event(
        event_type=event_type, trigger_reason=payload["triggerReason"], seq_no=payload["seqNo"],
        timestamp=parse_datetime(payload["timestamp"], "timestamp"), transaction_id=info["transactionId"],
        offline=payload.get("offline", False), charging_state=info.get("chargingState"),
        time_spent_charging=info.get("timeSpentCharging"), stopped_reason=info.get("stoppedReason"),
        remote_start_id=info.get("remoteStartId"), number_of_phases_used=payload.get("numberOfPhasesUsed"),
        cable_max_current=payload.get("cableMaxCurrent"), reservation_id=payload.get("reservationId"),
        id_token=token.get("idToken"), id_token_type=token.get("type"), evse_id=evse.get("id"),
        connector_id=evse.get("connectorId"),
        samples=samples(payload.get("meterValue", []), default_context=context))


async def transaction_event(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    event = read_event(payload)
    if call.write_behind is None:
        return await _alone(call, (call.station_id, event, payload, call.live.transactions))
    received_at = utcnow()
    entry = None
    if call.write_behind.answers_early and answered_without_store(payload):
        entry = journal_entry(call.station_id, received_at, call.frame or payload)
    result = await call.write_behind.put((call.station_id, event._replace(received_at=received_at), payload,
                                          call.live.transactions), entry)
    return {} if result is None else result[0]


async def _alone(call: StationCall, item: Item) -> dict[str, Any]:
    """Without a gateway's store (a handler called on its own): stored in a transaction of its own."""
    try:
        result = await call.db(lambda session: answer_events(session, [item])[0])
    except service.StaleSummary:
        # The summary another writer changed is gone from ``known``: this time the row is read.
        result = await call.db(lambda session: answer_events(session, [item])[0])
    remember(item, result)
    return result[0]


def answered_without_store(payload: dict[str, Any]) -> bool:
    """An Updated without an idToken is answered {} whatever the store holds (no idTokenInfo;
    totalCost only ever goes on Ended): journaled, it is answered before it is stored. At a
    fleet's pace (an event a second per charging station) that is nearly every event."""
    return payload["eventType"] == service.UPDATED and "idToken" not in payload


def journal_entry(station_id: str, received_at: datetime, frame: str | dict[str, Any]) -> str:
    """One line of ASCII JSON (any character as a ``\\u`` escape: read back exactly as sent).
    ``frame``: the CALL's text as received, kept as a string, or, for a handler called on its
    own, the payload itself."""
    if isinstance(frame, str):
        # The line put together from its three strings: encoding the payload again cost 28-50 µs
        # an event, this 7-12 (an Updated with 4 sampled values, in process, alternated on a slow
        # day); the same three strings through the encoder cost 11-14 (it is made at each call).
        return f"[{_quoted(station_id)},{_quoted(received_at.isoformat())},{_quoted(frame)}]"
    return _ENCODE([station_id, received_at.isoformat(), frame])


# ASCII: the C encoder's fastest path, and one line whatever the text holds.
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode
_quoted = encode_basestring_ascii


def restore(entry: str) -> Item:
    """A journal entry of a past run, to be stored: its connection's summaries are gone. The
    frame is read as the gateway read it (framing.parse: a U+0000 replaced as there)."""
    station_id, received_at, frame = json.loads(entry)
    payload = frame if isinstance(frame, dict) else _payload_of(frame)
    return station_id, read_event(payload)._replace(received_at=datetime.fromisoformat(received_at)), payload, {}


def _payload_of(text: str) -> dict[str, Any]:
    call = framing.parse(text)
    if not isinstance(call, framing.Call) or call.action != "TransactionEvent":
        raise ValueError("the journal entry's frame is no TransactionEvent CALL")
    return call.payload


def remember(item: Item, result: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """Stored: the next event of this transaction on this connection needs no read of its row."""
    _station_id, event, _payload, known = item
    known.pop(event.transaction_id, None)
    if event.event_type != service.ENDED:
        known[event.transaction_id] = result[1]
        while len(known) > service.KNOWN_PER_STATION:
            del known[next(iter(known))]


def answer_events(session: Session, items: list[Item]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Store a group of stations' events at once (service.record_many), then answer each; with
    each answer, its transaction's summary as stored."""
    recorded = service.record_many(session, [(station_id, event) for station_id, event, _, _ in items],
                                   known=[known for _, _, _, known in items])
    return [(_answer(session, station_id, event, payload, done), done.summary)
            for (station_id, event, payload, _), done in zip(items, recorded, strict=True)]


def _answer(session: Session, station_id: str, event: service.Event, payload: dict[str, Any],
            recorded: service.Recorded) -> dict[str, Any]:
    answer: dict[str, Any] = {}
    if "idToken" in payload:
        answer["idTokenInfo"] = authorization.id_token_info(session, station_id, payload["idToken"],
                                                            evse_id=recorded.transaction.evse_id, at=event.timestamp)
    if event.event_type in _COSTED:
        cost = tariff_cost.cost_of(session, station_id, energy_wh=recorded.transaction.energy_wh or 0.0,
                                   seconds=recorded.seconds)
        if cost is not None:
            answer["totalCost"] = float(cost)
    return answer
