"""Which station messages a connection may send, given how its BootNotification was answered.

B01.FR.10 / B02.FR.09 / B03.FR.07: before Accepted, anything but BootNotification is answered
with CALLERROR SecurityError. While Pending, the station may still send what the CSMS itself
asked for: the message a TriggerMessage named (once per trigger) and the NotifyReports of a
GetBaseReport/GetReport. While Rejected, nothing but BootNotification.

A station that was Accepted before and reconnects without a new BootNotification (boot data
unchanged, P4 §5.3) starts Accepted: the gateway seeds the gate from the station's record —
unless its boot policy has since become Pending or Rejected: then it starts Unknown, and until
it boots (and is answered per that policy) everything else gets SecurityError.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ocpp.v201.enums import (
    Action,
    GenericDeviceModelStatusEnumType,
    MessageTriggerEnumType,
    RegistrationStatusEnumType,
    TriggerMessageStatusEnumType,
)

from api.ocpp.framing import ErrorCode, OcppError

ACCEPTED, PENDING, REJECTED = (RegistrationStatusEnumType.accepted, RegistrationStatusEnumType.pending,
                               RegistrationStatusEnumType.rejected)
UNKNOWN = "Unknown"  # connected, never booted (as far as we know)

# TriggerMessage.requestedMessage → the action the station then sends (a name the two share
# but for the certificate signing requests).
_TRIGGERED_ACTION = {trigger: Action(trigger.value) for trigger in MessageTriggerEnumType
                     if trigger.value in {action.value for action in Action}}
_TRIGGERED_ACTION.update(dict.fromkeys((MessageTriggerEnumType.sign_charging_station_certificate,
                                        MessageTriggerEnumType.sign_v2g_certificate,
                                        MessageTriggerEnumType.sign_combined_certificate), Action.sign_certificate))
_REPORT_REQUESTS = (Action.get_base_report, Action.get_report)
# What "I will send it" is in the answers the gate reads (TriggerMessage, GetBaseReport, GetReport).
_WILL_SEND = (TriggerMessageStatusEnumType.accepted, GenericDeviceModelStatusEnumType.accepted)


class BootGate:
    def __init__(self, status: str = UNKNOWN) -> None:
        self.status = status
        self._triggered: Counter[str] = Counter()
        self._report_ids: set[int] = set()

    @classmethod
    def resume(cls, accepted_before: bool) -> "BootGate":
        return cls(ACCEPTED if accepted_before else UNKNOWN)

    @property
    def accepted(self) -> bool:
        return self.status == ACCEPTED

    @property
    def ready(self) -> bool:
        """The CSMS may send its own calls: the station booted and was not turned away."""
        return self.status in (ACCEPTED, PENDING)

    def admit(self, action: str, payload: dict[str, Any]) -> None:
        """Raise SecurityError unless the station may send ``action`` now."""
        if self.status == ACCEPTED or action == "BootNotification":
            return
        if self.status == PENDING:
            if self._triggered[action] > 0:
                self._triggered[action] -= 1
                return
            # Looked at before the schema check: a requestId that is no integer (a list cannot
            # even be looked up) is no report we asked for.
            request_id = payload.get("requestId")
            if action == "NotifyReport" and isinstance(request_id, int) and request_id in self._report_ids:
                if not payload.get("tbc", False):
                    self._report_ids.discard(request_id)
                return
        raise OcppError(ErrorCode.SECURITY_ERROR,
                        f"{action} refused: BootNotification is {self.status}, not Accepted")

    def booted(self, status: str) -> None:
        self.status = status
        if status != PENDING:
            self._triggered.clear()
            self._report_ids.clear()

    # The session reports every CSMS call it sends and the answer it got, so the gate knows
    # what the station was asked for.

    def call_sent(self, action: str, payload: dict[str, Any]) -> None:
        if action == Action.trigger_message:
            triggered = _TRIGGERED_ACTION.get(payload.get("requestedMessage", ""))
            if triggered:
                self._triggered[triggered] += 1
        elif action in _REPORT_REQUESTS and isinstance(payload.get("requestId"), int):
            self._report_ids.add(payload["requestId"])

    def call_answered(self, action: str, payload: dict[str, Any], response: dict[str, Any] | None) -> None:
        """Withdraw what the station said it will not send (response None: CALLERROR)."""
        if response is not None and response.get("status") in _WILL_SEND:
            return
        if action == Action.trigger_message:
            triggered = _TRIGGERED_ACTION.get(payload.get("requestedMessage", ""))
            if triggered and self._triggered[triggered] > 0:
                self._triggered[triggered] -= 1
        elif action in _REPORT_REQUESTS:
            self._report_ids.discard(payload.get("requestId"))
