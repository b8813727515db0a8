"""Shared pieces of the transaction and meter-value conformance cases (§5.3, §5.6): a booted
simulated station driving one EVSE (simulator/charging.py), the reusable states of the test
cases (P6e3 §3.18) built from it, and what the CSMS stored, read back over REST and from the
database.

The token the cases call "<Configured valid_idtoken>" is registered as Accepted in the token
store before each case, as the lab configures it (through the REST API), so every answer that
carries it must say Accepted (``ACCEPTED``).
"""

from __future__ import annotations

from typing import Any

from fake_connection import sampled
from sqlmodel import select
from trust_anchor_support import booted

from api.core.audit import run_in_session
from api.csms.meter_values.service import SampledValue
from simulator.charging import Charging
from storage.meter_values import MeterReading
from storage.transactions import Transaction, TransactionEvent

VALID_TOKEN = {"idToken": "04E1C2D3A4B5C6", "type": "ISO14443"}
SIGNED = {"signedMeterData": "T0NNRnx7IkZWIjoiMS4wIiwiR0kiOiJTSU0ifXx7IlNBIjoiRUNEU0EtUDI1NiJ9\n+/AA==",
          "signingMethod": "ECDSA-secp256r1-SHA256", "encodingMethod": "OCMF",
          "publicKey": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEq+/sim=="}


ACCEPTED = {"status": "Accepted"}


async def charging_station(csms, station_id: str, **options: Any) -> Charging:
    """State Booted: connected on profile 1, BootNotification Accepted, the connector Available;
    the configured valid token known to the CSMS as Accepted."""
    answer = await csms.rest.post("/api/v1/id-tokens", json={"id_token": VALID_TOKEN["idToken"],
                                                             "type": VALID_TOKEN["type"], "status": "Accepted"},
                                  headers=csms.headers("operator"))
    assert answer.status_code in (201, 409), answer.text
    station = await booted(csms, station_id, profile=1)
    charging = Charging(station, **options)
    await charging.connector("Available")
    return charging


async def ev_connected_pre_session(charging: Charging) -> dict[str, Any]:
    """EVConnectedPreSession with TxStartPoint EVConnected: the cable starts the transaction."""
    await charging.connector("Occupied")
    return await charging.start("CablePluggedIn", charging_state="EVConnected")


async def authorized(charging: Charging, token: dict[str, Any] = VALID_TOKEN) -> dict[str, Any]:
    """Authorized (in a transaction): Authorize, then the event carrying the token."""
    await charging.authorize(token)
    return await charging.update("Authorized", id_token=token)


async def energy_transfer_started(charging: Charging, wh: float = 0.0) -> dict[str, Any]:
    charging.tick(5)
    charging.charge(wh)
    return await charging.update("ChargingStateChanged", charging_state="Charging",
                                 meter=[charging.meter_value("Sample.Periodic")])


async def charging_for(charging: Charging, minutes: int, wh: float) -> dict[str, Any]:
    """A periodic meter value after ``minutes`` of charging ``wh``."""
    charging.tick(minutes * 60)
    charging.charge(wh)
    return await charging.update("MeterValuePeriodic", meter=[charging.meter_value("Sample.Periodic")])


async def session_started(csms, station_id: str) -> Charging:
    """The usual start (TxStartPoint EVConnected, Authorized): plugged in, authorized, charging."""
    charging = await charging_station(csms, station_id)
    await ev_connected_pre_session(charging)
    await authorized(charging)
    await energy_transfer_started(charging)
    return charging


async def stored(csms, station_id: str, transaction_id: str
                 ) -> tuple[Transaction, list[TransactionEvent], list[SampledValue]]:
    """The transaction row, its events (by seqNo) and its meter values (by time), as stored."""
    await csms.settled()

    def read(session):
        (row,) = session.exec(select(Transaction).where(Transaction.station_id == station_id,
                                                        Transaction.transaction_id == transaction_id)).all()
        events = list(session.exec(select(TransactionEvent).where(TransactionEvent.transaction_pk == row.id)
                                   .order_by(TransactionEvent.seq_no, TransactionEvent.id)))
        return row, events

    row, events = run_in_session(csms.ctx, read)
    values = sampled(csms.ctx, MeterReading.transaction_pk == row.id)
    return row, events, sorted(values, key=lambda value: (value.sampled_at, value.id, value.position))


async def shown(csms, station_id: str, transaction_id: str) -> dict[str, Any]:
    """The transaction as an auditor reads it over REST."""
    answer = await csms.rest.get(f"/api/v1/transactions/{station_id}/{transaction_id}",
                                 headers=csms.headers("auditor"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def trail(events: list[TransactionEvent]) -> list[tuple[str, str, str | None]]:
    """(eventType, triggerReason, chargingState) of each event."""
    return [(event.event_type, event.trigger_reason, event.charging_state) for event in events]


# --- GetTransactionStatus (E14) ---------------------------------------------------------------

def answers_status(charging: Charging, *, ongoing: set[str]) -> None:
    """The station answers GetTransactionStatus from what it holds: messagesInQueue while it has
    queued events (of that transaction, or of any without an id), ongoingIndicator for an id."""

    def get_transaction_status(_station, payload):
        transaction_id = payload.get("transactionId")
        queued = [event for event in charging.queued
                  if transaction_id is None or event["transactionInfo"]["transactionId"] == transaction_id]
        answer: dict[str, Any] = {"messagesInQueue": bool(queued)}
        if transaction_id is not None:
            answer["ongoingIndicator"] = transaction_id in ongoing
        return answer

    charging.station.handlers["GetTransactionStatus"] = get_transaction_status


async def ask_status(csms, station_id: str, transaction_id: str | None = None) -> dict[str, Any]:
    """The operator's GetTransactionStatus (REST typed command); the station's answer as read."""
    body = {"transaction_id": transaction_id} if transaction_id is not None else {}
    answer = await csms.rest.post(f"/api/v1/stations/{station_id}/commands/GetTransactionStatus", json=body,
                                  headers=csms.headers("operator"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "answered", answer.text
    return answer.json()["result"]


def status_answers(csms, station_id: str) -> list[tuple[str | None, bool, bool | None]]:
    """(transactionId asked about, messagesInQueue, ongoingIndicator) of each answer kept."""
    from storage.transactions import TransactionStatusAnswer

    rows = run_in_session(csms.ctx, lambda s: list(s.exec(select(TransactionStatusAnswer).where(
        TransactionStatusAnswer.station_id == station_id).order_by(TransactionStatusAnswer.id))))
    return [(row.transaction_id, row.messages_in_queue, row.ongoing_indicator) for row in rows]
