"""Operator-requested CSMS calls: sent now (sync) or as a stored job (async, persist first).

Either way the call is checked and audited before it leaves, and its outcome is audited after.
A job is an OutboundCall row of purpose ``operator``, sent by the outbox engine like every
stored call (api/csms/outbox/engine.py: pending → sent → answered | failed): when its station is
connected and booted, its rule checked again as it leaves; a CALLERROR ends it, no answer is
retried with back-off (api/csms/outbox/purposes.py), and one left "sent" by a process that died
is sent again once its lease is abandoned — until the station answers. A Get/SetVariables job the
station takes only in several messages is a job and its parts (api/csms/split_jobs.py), the
parts sent the same way one after the other and the answers merged.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlmodel import Session, select

from api.core.audit import Actor, run_in_session
from api.core.refusal import Refusal, RoleRequired
from api.csms import call_effects, split_jobs
from api.csms.call_records import (
    CALL,
    CALL_RESULT,
    append_call_result,
    begin_station_call,
    call_result_detail,
    check_station_call,
    one_job,
)
from api.csms.call_rules import (
    CHECKED,
    DEDICATED,
    ROUTED,
    CallRule,
    IssuedForStation,
    KnownTransaction,
    call_rule,
    check_availability,
    check_cancel_reservation,
    check_certificate_signed,
    check_network_profile,
    check_organization,
    check_remote_start,
    check_remote_stop,
    check_reservation,
    check_reset,
    check_trigger,
    check_unlock,
    holders,
    may,
)
from api.csms.customer_information import service as customer_information
from api.csms.display import service as display
from api.csms.firmware import updates as firmware_updates
from api.csms.logs import service as logs
from api.csms.monitoring import service as monitoring
from api.csms.outbox import signal as outbox_signal
from api.csms.outbox.engine import REFUSED, Failure, Kind
from api.csms.outbox.purposes import OPERATOR_JOB
from api.csms.provisioning import splitting
from api.csms.provisioning.splitting import Splittable
from api.csms.reservations import service as reservations
from api.csms.routes import ANSWERS, COMMANDS, CSMS_ACTIONS
from api.csms.security import trust_anchors
from api.csms.security.trust_anchors import StationAnswer
from api.csms.smart_charging import rules as smart_charging
from api.csms.transactions import service as transactions
from api.ocpp.command import BadAnswer
from api.ocpp.framing import OcppError
from api.ocpp.gateway import Gateway
from api.ocpp.handler import parse_datetime
from api.ocpp.session import ANSWERED, CallOutcome
from api.ocpp.validation import SchemaViolation
from pki.authorities import organization
from pki.hashdata import CertificateHashData
from pki.serials import serial_hex
from policies.model import Decision
from storage.certificates import CertificateAuthority, CertKind, CertStatus, IssuedCertificate
from storage.outbox import OutboundCall
from storage.stations import Station
from storage.types import utcnow


class InvalidCallPayload(Refusal):
    """The payload breaks the action's schema; ``field`` names where (REST answers 422)."""

    def __init__(self, violation: SchemaViolation) -> None:
        super().__init__("call.schema", violation.description)
        self.field = violation.field
        self.code = violation.code


# Commands the station may need in several messages (Get/SetVariables, B06.FR.05).
SPLITTABLE: Mapping[str, type[Splittable]] = MappingProxyType(
    {action: command for action, command in COMMANDS.items() if issubclass(command, Splittable)})


class CallChecker:
    """What an actor may send through the generic call (api/csms/call_rules.py): a CSMS-initiated
    action, schema-valid, the role its rule asks for, and that rule's check; ROUTED actions only
    synchronously (``persist`` False), where ``call_now`` hands them to their workflow. For a
    SPLITTABLE action, ``parts`` is then the messages it goes as (its values checked); a job
    of several parts is stored as one job and its parts (``store``)."""

    def __init__(self, gateway: Gateway, actor: Actor, *, persist: bool, answer_timeout: float | None = None) -> None:
        self._schemas = gateway.schemas
        self._actor = actor
        self._persist = persist
        self._answer_timeout = answer_timeout
        self.parts: list[dict[str, Any]] | None = None

    def __call__(self, session: Session, station: Station, action: str, payload: dict[str, Any]) -> None:
        if action not in CSMS_ACTIONS:
            raise Refusal("call.action", f"{action!r} is not a message the CSMS sends to a station")
        rule = call_rule(action, payload)
        if not may(self._actor.role, rule):
            raise role_refusal(self._actor, action, rule)
        if rule.door == DEDICATED:
            raise Refusal(rule.rule, f"{action} of this kind is refused on the generic call: it "
                                              f"{rule.why}; use {rule.route}")
        if rule.door == ROUTED and self._persist:
            raise Refusal("call.sync_only", f"{action} is decided on the station's live state and sent "
                                                     "only to a connected station: send it with mode sync, or use "
                                                     f"{rule.route}")
        try:
            self._schemas.validate_request(action, payload)
        except SchemaViolation as violation:
            raise InvalidCallPayload(violation) from None
        if rule.door == CHECKED:
            _refuse(_check(session, station, action, payload))
        request_id = payload.get("requestId")
        if isinstance(request_id, int) and request_id < 0:
            # The schemas allow it, but the reports and notifications that follow carry it back,
            # and B07/B08/N01 (TC_B_12, TC_B_13, TC_N_25) expect a requestId >= 0.
            raise Refusal("call.request_id", "requestId must be 0 or more")
        splittable = SPLITTABLE.get(action)
        if splittable is not None:
            self.parts = splitting.plan(session, station.id, splittable, payload)
        # Recorded before the call leaves (and before its audit entry is written), so nothing
        # leaves unrecorded.
        call_effects.requested(session, station.id, self._actor.name, action, payload)

    def store(self, session: Session, station_id: str, action: str, payload: dict[str, Any]) -> OutboundCall:
        """The job, once checked: one row, or a job and its parts when the station takes it only in
        several messages (api/csms/split_jobs.py)."""
        if self.parts is not None and len(self.parts) > 1:
            return split_jobs.store(session, station_id, action, payload, self.parts, self._actor.name,
                                    self._answer_timeout)
        return one_job(session, station_id, action, payload, self._actor.name, self._answer_timeout)


def role_refusal(actor: Actor, action: str, rule: CallRule) -> RoleRequired:
    """The refusal of ``action`` to an actor whose role ``rule`` does not allow, on every door."""
    return RoleRequired("call.role", f"{action} {rule.why} and needs the role {' or '.join(holders(rule))}; "
                                     f"{actor.name} has the role {actor.role}", holders(rule))


def _check(session: Session, station: Station, action: str, payload: dict[str, Any]) -> Decision:
    """The rule of a CHECKED action, on the database's state now."""
    if action == "SetNetworkProfile":
        return check_network_profile(payload, station.security_profile)
    if action == "SetVariables":
        return check_organization(payload, organization(session))
    if action == "CertificateSigned":
        chain = _parse_chain(payload["certificateChain"])
        return check_certificate_signed(chain, station.id, _issued_leaf(session, chain),
                                        deliverable=(CertStatus.ISSUED, CertStatus.ACTIVE))
    if action == "RequestStartTransaction":
        decision = check_remote_start(payload)
        if decision and payload.get("chargingProfile") is not None:
            return smart_charging.check_remote_start_profile(session, station.id, payload["chargingProfile"],
                                                             utcnow())
        return decision
    if action == "RequestStopTransaction":
        return check_remote_stop(payload["transactionId"], _known_transaction(session, station.id,
                                                                               payload["transactionId"]))
    if action == "TriggerMessage":
        return check_trigger(payload)
    if action == "ChangeAvailability":
        return check_availability(payload)
    if action == "Reset":
        return check_reset(payload)
    if action == "UnlockConnector":
        return check_unlock(payload)
    if action == "ReserveNow":
        try:
            expires_at = parse_datetime(payload["expiryDateTime"], "expiryDateTime")
        except OcppError as exc:
            return Decision.refuse("call.reservation.expiry", exc.description)
        return check_reservation(payload, expires_at, utcnow())
    if action == "CancelReservation":
        ours = reservations.find(session, station.id, payload["reservationId"]) is not None
        return check_cancel_reservation(station.id, payload["reservationId"], ours)
    if action == "CustomerInformation":
        return customer_information.check_request(payload)
    if action == "SetVariableMonitoring":
        return monitoring.check_monitors(payload)
    if action == "SetMonitoringLevel":
        return monitoring.check_level(payload)
    if action == "SetDisplayMessage":
        return display.check_message(payload, utcnow())
    if action == "GetLog":
        return logs.check_request(payload)
    if action in SMART_CHARGING:
        return smart_charging.check_request(session, station.id, action, payload, utcnow())
    raise AssertionError(f"no check for {action}")  # pragma: no cover - call_rules names only these


async def _settled_for(gateway: Gateway, action: str) -> None:
    """A check that reads the stations' transactions reads every event this process answered."""
    if action in _READS_TRANSACTIONS:
        await gateway.transactions_settled()


_READS_TRANSACTIONS = frozenset({"RequestStopTransaction", "SetChargingProfile"})
SMART_CHARGING = frozenset({"SetChargingProfile", "GetCompositeSchedule", "GetChargingProfiles",
                            "ClearChargingProfile"})


def _known_transaction(session: Session, station_id: str, transaction_id: str) -> KnownTransaction | None:
    view = transactions.find(session, station_id, transaction_id)
    return None if view is None else KnownTransaction(ended=view.ended_at is not None)


def rule_check(session: Session, station_id: str, action: str, payload: dict[str, Any]) -> Decision:
    """Again, as a stored job leaves: the CHECKED action's rule (the role was checked when it was stored)."""
    station = session.get(Station, station_id)
    if station is None:
        return Decision.refuse("station.unknown", f"station {station_id!r} is not registered any more")
    splittable = SPLITTABLE.get(action)
    if splittable is not None:
        try:
            # A job was split when it was stored; a message that no longer fits (the station
            # lowered its limits meanwhile) is refused, not split again.
            if len(splitting.plan(session, station_id, splittable, payload)) > 1:
                return Decision.refuse("call.variables.split_changed",
                                       f"the station now takes this {action} message only in several messages")
        except Refusal as refusal:
            return Decision.refuse(refusal.rule, refusal.reason)
    if call_rule(action, payload).door != CHECKED:
        return Decision.allow()
    return _check(session, station, action, payload)


def _refuse(decision: Decision) -> None:
    if not decision:
        raise Refusal(decision.rule, decision.reason)


def _parse_chain(chain_pem: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(chain_pem.encode())
    except ValueError:
        return []


def _issued_leaf(session: Session, chain: list[x509.Certificate]) -> IssuedForStation | None:
    if not chain:
        return None
    record = session.exec(select(IssuedCertificate).where(
        IssuedCertificate.serial_hex == serial_hex(chain[0].serial_number),
        IssuedCertificate.kind.in_([CertKind.STATION, CertKind.V2G]))).first()
    if record is None:
        return None
    issuer = session.get(CertificateAuthority, record.issuer_id)
    return IssuedForStation(_der(record.certificate_pem), record.station_id, record.status,
                            _der(issuer.certificate_pem))


def _der(pem: str) -> bytes:
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER)


async def call_now(gateway: Gateway, actor: Actor, station_id: str, action: str, payload: dict[str, Any],
                   timeout: float | None = None) -> CallOutcome:
    ctx = gateway.ctx
    await _settled_for(gateway, action)
    checker = CallChecker(gateway, actor, persist=False)
    detail = await asyncio.to_thread(check_station_call, ctx, actor, station_id, action, payload, check=checker,
                                     writes=call_effects.has_request_effect(action))
    await gateway.audit.success(actor, CALL, station_id, detail)
    workflow = _WORKFLOWS.get(action)
    if workflow is not None:
        # The workflow audits its own decision and the station's answer.
        return await workflow(gateway, actor, station_id, payload, timeout)
    if checker.parts is not None:
        outcome = await SPLITTABLE[action].send_split(gateway, station_id, checker.parts, timeout)
    else:
        outcome = await gateway.send_call(station_id, action, payload, timeout)
    if outcome.status == ANSWERED and call_effects.has_answer_effect(action):
        await asyncio.to_thread(run_in_session, ctx, lambda session: _record_answer(
            session, station_id, action, payload, outcome.response, actor.name))
    elif outcome.status != ANSWERED and call_effects.has_effect(action):
        await asyncio.to_thread(run_in_session, ctx, lambda session: call_effects.unanswered(
            session, station_id, action, payload, outcome.status))
    await gateway.audit.success(actor, CALL_RESULT, station_id, call_result_detail(
        action, outcome.status, error_code=outcome.error_code, answer=outcome.response))
    return outcome


def _record_answer(session: Session, station_id: str, action: str, payload: dict[str, Any],
                   response: dict[str, Any] | None, asked_by: str) -> None:
    """The station's answer in the blocks' records (api/csms/call_effects.py); an answer that
    breaks its schema is not one (the door reports it as an error) and changes nothing."""
    try:
        ANSWERS[action](response or {})
    except BadAnswer:
        return
    call_effects.answered(session, station_id, action, payload, response, asked_by)


# --- ROUTED actions: the generic call runs the rule-checked workflow ------------------------------

def _as_outcome(answer: StationAnswer) -> CallOutcome:
    response = None
    if answer.status is not None:
        response = {"status": answer.status, **({"statusInfo": answer.status_info} if answer.status_info else {})}
    return CallOutcome(answer.call_status, response=response, error_code=answer.error_code,
                       description=answer.description, sent=answer.sent)


async def _install(gateway: Gateway, actor: Actor, station_id: str, payload: dict[str, Any],
                   timeout: float | None) -> CallOutcome:
    result = await trust_anchors.install_root(gateway, actor, station_id, payload["certificateType"],
                                              payload["certificate"], timeout=timeout)
    return _as_outcome(result.answer)


async def _delete(gateway: Gateway, actor: Actor, station_id: str, payload: dict[str, Any],
                  timeout: float | None) -> CallOutcome:
    try:
        target = CertificateHashData.from_ocpp(payload["certificateHashData"])
    except ValueError as exc:
        raise Refusal("delete.hash_data", str(exc)) from None
    result = await trust_anchors.delete_certificate(gateway, actor, station_id, trust_anchors.by_hash_data(target),
                                                    timeout=timeout)
    return _as_outcome(result.answer)


_WORKFLOWS: Mapping[str, Callable[[Gateway, Actor, str, dict[str, Any], float | None], Awaitable[CallOutcome]]] = \
    MappingProxyType({"InstallCertificate": _install, "DeleteCertificate": _delete,
                      "UpdateFirmware": firmware_updates.from_call_payload})


class OperatorJobs(Kind):
    """The outbox kind of operators' stored calls: checked again as each leaves, its end audited
    (``station.call.result``) in the transaction that records it."""

    purpose = OPERATOR_JOB

    def check(self, session: Session, row: OutboundCall) -> None:
        # A stored job may leave days later: its rule decides on the state of now (a chain
        # revoked meanwhile, a profile raised meanwhile), not of when it was stored.
        _refuse(rule_check(session, row.station_id, row.action, json.loads(row.payload)))

    def answered(self, session: Session, row: OutboundCall, response: dict[str, Any], now: datetime) -> None:
        _record_answer(session, row.station_id, row.action, json.loads(row.payload), response, row.created_by)
        append_call_result(session, row.created_by, row.station_id, row.action, ANSWERED, call_id=row.id,
                           answer=response)

    def failed(self, session: Session, row: OutboundCall, failure: Failure, now: datetime) -> None:
        call_effects.unanswered(session, row.station_id, row.action, json.loads(row.payload), failure.status)
        append_call_result(session, row.created_by, row.station_id, row.action, failure.status,
                           error_code=failure.rule if failure.status == REFUSED else failure.error_code,
                           call_id=row.id)


class CallJobs:
    """Operators' calls stored as jobs (persist first, then push): the outbox engine sends them
    as ``kind``, which the service gives it (api/stack.py)."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._ctx = gateway.ctx
        self.kind = OperatorJobs()
        # The outbox kinds that send them: one-message jobs, and the parts of split ones.
        self.kinds = (self.kind, split_jobs.OperatorParts(self.kind))

    async def submit(self, actor: Actor, station_id: str, action: str, payload: dict[str, Any],
                     timeout: float | None = None) -> OutboundCall:
        await _settled_for(self._gateway, action)
        checker = CallChecker(self._gateway, actor, persist=True, answer_timeout=timeout)
        row = await asyncio.to_thread(begin_station_call, self._ctx, actor, station_id, action,
                                      payload, check=checker, store=checker.store)
        outbox_signal.ring()
        return row

    def get(self, station_id: str, call_id: int) -> OutboundCall | None:
        row = run_in_session(self._ctx, lambda s: s.get(OutboundCall, call_id))
        return row if row is not None and row.station_id == station_id else None

    def parts(self, row: OutboundCall) -> list[OutboundCall]:
        """A split job's parts in order ([] for a one-message job)."""
        return run_in_session(self._ctx, lambda s: split_jobs.parts_of(s, row))
