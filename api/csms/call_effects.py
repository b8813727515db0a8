"""What an operator's CSMS call leaves in the blocks' records, beside the audit entry: the
request when it is accepted to leave (in the transaction that audits it, so nothing is sent
that was not recorded first), and the station's answer once it comes (sync or as a job).

One table, action → (requested, answered); api/csms/operator_calls.py runs it for every door.
A block keeps only what its answer says (GetTransactionStatus: the queue state, block E).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlmodel import Session

from api.csms.availability import service as availability
from api.csms.customer_information import service as customer_information
from api.csms.display import service as display
from api.csms.local_list import service as local_list
from api.csms.logs import service as logs
from api.csms.monitoring import service as monitoring
from api.csms.provisioning import device_model
from api.csms.provisioning import service as provisioning
from api.csms.remote_control import service as remote_control
from api.csms.reservations import service as reservations
from api.csms.transactions import service as transactions

Requested = Callable[[Session, str, str, Mapping[str, Any]], None]
# (session, station, request, answer, who asked)
Answered = Callable[[Session, str, Mapping[str, Any], Mapping[str, Any], str], Any]


# (session, station, request, how the call ended: error, timeout, not_connected, refused)
Unanswered = Callable[[Session, str, Mapping[str, Any], str], None]


def _keep_local_list_version(session: Session, station_id: str, _request: Mapping[str, Any],
                             answer: Mapping[str, Any], _asked_by: str) -> None:
    local_list.record_reported_version(session, station_id, answer["versionNumber"])


@dataclass(frozen=True)
class Effect:
    requested: Requested | None = None
    answered: Answered | None = None
    unanswered: Unanswered | None = None


EFFECTS: Mapping[str, Effect] = MappingProxyType({
    "RequestStartTransaction": Effect(remote_control.requested, remote_control.answered, remote_control.unanswered),
    "ChangeAvailability": Effect(availability.change_requested, availability.change_answered,
                                 availability.change_unanswered),
    "ReserveNow": Effect(reservations.requested, reservations.answered, reservations.unanswered),
    "CancelReservation": Effect(None, reservations.cancel_answered),
    "GetTransactionStatus": Effect(None, transactions.keep_status_answer),
    "GetLocalListVersion": Effect(None, _keep_local_list_version),
    "SendLocalList": Effect(None, local_list.keep_sent_answer),
    # N — customer information, monitoring; O — display messages
    "CustomerInformation": Effect(customer_information.STREAM.requested, customer_information.STREAM.answered,
                                  customer_information.STREAM.unanswered),
    "SetVariableMonitoring": Effect(monitoring.set_requested, monitoring.set_answered, monitoring.set_unanswered),
    "ClearVariableMonitoring": Effect(None, monitoring.clear_answered),
    "SetMonitoringBase": Effect(None, monitoring.base_answered),
    "SetMonitoringLevel": Effect(None, monitoring.level_answered),
    "GetMonitoringReport": Effect(monitoring.REPORT.requested, monitoring.REPORT.answered,
                                  monitoring.REPORT.unanswered),
    "SetDisplayMessage": Effect(display.set_requested, display.set_answered, display.set_unanswered),
    "ClearDisplayMessage": Effect(None, display.clear_answered),
    "GetDisplayMessages": Effect(display.REPORT.requested, display.REPORT.answered, display.REPORT.unanswered),
    # N — logs
    "GetLog": Effect(logs.requested, logs.answered, logs.unanswered),
    # B — provisioning: report requests until their NotifyReports, values read or written kept
    # in the device model, Resets until the reboot, network profiles with their answers.
    "GetBaseReport": Effect(provisioning.report_requested, provisioning.report_answered,
                            provisioning.report_unanswered),
    "GetReport": Effect(provisioning.report_requested, provisioning.report_answered,
                        provisioning.report_unanswered),
    "GetVariables": Effect(None, device_model.keep_get_variables_answer),
    "SetVariables": Effect(None, device_model.keep_set_variables_answer),
    "Reset": Effect(provisioning.reset_requested, provisioning.reset_answered, provisioning.reset_unanswered),
    "SetNetworkProfile": Effect(provisioning.network_profile_requested, provisioning.network_profile_answered,
                                provisioning.network_profile_unanswered),
})


def requested(session: Session, station_id: str, actor_name: str, action: str, payload: Mapping[str, Any]) -> None:
    effect = EFFECTS.get(action)
    if effect is not None and effect.requested is not None:
        effect.requested(session, station_id, actor_name, payload)


def answered(session: Session, station_id: str, action: str, payload: Mapping[str, Any],
             response: Mapping[str, Any] | None, asked_by: str) -> None:
    effect = EFFECTS.get(action)
    if effect is not None and effect.answered is not None and response is not None:
        effect.answered(session, station_id, payload, response, asked_by)


def unanswered(session: Session, station_id: str, action: str, payload: Mapping[str, Any], outcome: str) -> None:
    """The call ended without an answer: what was recorded as requested says so (a timeout may
    still have reached the station; what it does next, e.g. a transaction started, wins)."""
    effect = EFFECTS.get(action)
    if effect is not None and effect.unanswered is not None:
        effect.unanswered(session, station_id, payload, outcome)


def has_effect(action: str) -> bool:
    return action in EFFECTS


def has_request_effect(action: str) -> bool:
    """Whether sending ``action`` writes a record before it leaves (else checking it only reads)."""
    effect = EFFECTS.get(action)
    return effect is not None and effect.requested is not None


def has_answer_effect(action: str) -> bool:
    effect = EFFECTS.get(action)
    return effect is not None and effect.answered is not None
