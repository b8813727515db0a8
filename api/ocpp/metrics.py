"""Counts of what happens on the OCPP side, for the Prometheus endpoint (api/metrics.py).

One place increments each count: the session when it answers a station's CALL, the refusal log where
it counts a refusal (admission, TLS handshake and connection limits alike), the message log's
recorder what it writes and drops. Label values are bounded: an action the OCPP schemas do not know counts as
"other" (a station chooses the action name), refusal reasons and error codes are our own names.
Counts live for the process, in a registry of their own (not the client library's global one).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from api.ocpp.framing import CallError, Frame

EVENTS = CollectorRegistry(auto_describe=True)
OTHER_ACTION = "other"

_messages = Counter("chargeca_ocpp_messages", "CALLs received from stations, by action.", ["action"],
                    registry=EVENTS)
_errors = Counter("chargeca_ocpp_message_errors", "CALLs from stations answered with a CALLERROR, by action "
                  "and OCPP error code.", ["action", "code"], registry=EVENTS)
_log_written = Counter("chargeca_message_log_written", "OCPP frames written to the message log.",
                       registry=EVENTS)
_log_dropped = Counter("chargeca_message_log_dropped", "OCPP frames the message log dropped, by reason: "
                       "queue_full (the writer fell behind), station_quota (a station's frames of the day), "
                       "write_failed (the database refused the batch).", ["reason"], registry=EVENTS)
_refusals = Counter("chargeca_admission_refusals", "Connection attempts refused before the WebSocket upgrade, "
                    "by the rule that refused them.", ["reason"], registry=EVENTS)


_held = Histogram("chargeca_ocpp_call_seconds", "Station CALLs from their frame read to their answer handed to the "
                  "connection, by action: how long the CSMS held them (behind the station's earlier calls, in the "
                  "handler, waiting for the database or the journal's sync). A round trip the station finds slow "
                  "and this does not was slow outside the handlers: the network, or a busy event loop.", ["action"],
                  buckets=(0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                           5.0, 10.0, 30.0), registry=EVENTS)
# Each action's histogram, looked up once: an observation is on every CALL's path.
_held_by_action: dict[str, Histogram] = {}


def _label(action: str, known: bool) -> str:
    return action if known else OTHER_ACTION


def station_call_answered(action: str, known: bool, reply: Frame) -> None:
    label = _label(action, known)
    _messages.labels(label).inc()
    if isinstance(reply, CallError):
        _errors.labels(label, str(reply.code)).inc()


def station_call_held(action: str, known: bool, seconds: float) -> None:
    """A station's CALL answered ``seconds`` after its frame was read."""
    label = _label(action, known)
    held = _held_by_action.get(label)
    if held is None:
        held = _held_by_action[label] = _held.labels(label)
    held.observe(seconds)


def admission_refused(rule: str) -> None:
    _refusals.labels(rule).inc()


def message_log_written(count: int) -> None:
    _log_written.inc(count)


def message_log_dropped(reason: str, count: int) -> None:
    _log_dropped.labels(reason).inc(count)
