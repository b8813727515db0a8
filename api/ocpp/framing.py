"""OCPP-J frames (P4 §4): CALL [2,id,action,payload], CALLRESULT [3,id,payload],
CALLERROR [4,id,code,description,details].

Parsing answers every broken frame with the CALLERROR the peer should get, so the session never
has to think about JSON. Error-code choice (P4 §4.3 definitions):

- not UTF-8 / not JSON / not an array / no readable message type or id → ``RpcFrameworkError``
  with id "-1": P4 names "MessageId could not be read" as the example of a frame that is not a
  valid RPC request, and a broken JSON text is the extreme case of that. (The ``ocpp`` library
  says FormatViolation here; FormatViolation is defined on the *payload for an action*, and a
  frame that cannot be split into id/action/payload has no payload yet.)
- a message type number that is not 2, 3 or 4 → ``MessageTypeNotSupported``.
- readable type and id but a wrong element count or element type, or a message id over 36
  characters → ``RpcFrameworkError`` (the frame is not a valid RPC); an over-long id is not
  echoed, because a CALLERROR carrying it would be invalid in turn, so "-1" is used.
- a payload that is not a JSON object → ``FormatViolation`` (the action is known by then,
  its payload is syntactically wrong).
- nesting too deep for the parser → ``RpcFrameworkError`` with id "-1" (nothing can be read).
- a lone surrogate escape such as ``\\ud800`` in a string: JSON allows the escape, but it denotes
  no Unicode character (RFC 8259 §8.2), so the text can be neither stored nor sent on as UTF-8.
  In the payload → ``FormatViolation`` naming the field; in the type, id or action → as unreadable.
- U+0000 in a string is a character, but PostgreSQL text cannot hold it: it becomes U+FFFD
  (the replacement character) here, so every handler stores the same thing on every database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from api.core.text import LONE_SURROGATE, NUL
from api.ocpp import json_codec

CALL, CALLRESULT, CALLERROR = 2, 3, 4
MESSAGE_ID_MAX = 36
DESCRIPTION_MAX = 255
UNKNOWN_ID = "-1"


class ErrorCode:
    """CALLERROR codes of OCPP-J 2.0.1 (P4 §4.3)."""

    FORMAT_VIOLATION = "FormatViolation"
    GENERIC_ERROR = "GenericError"
    INTERNAL_ERROR = "InternalError"
    MESSAGE_TYPE_NOT_SUPPORTED = "MessageTypeNotSupported"
    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    OCCURRENCE_CONSTRAINT_VIOLATION = "OccurrenceConstraintViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    PROTOCOL_ERROR = "ProtocolError"
    RPC_FRAMEWORK_ERROR = "RpcFrameworkError"
    SECURITY_ERROR = "SecurityError"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"


class OcppError(Exception):
    """Raised anywhere while handling a CALL; the session answers it as this CALLERROR."""

    def __init__(self, code: str, description: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.details = details or {}


class FrameError(OcppError):
    """A frame that cannot be used; ``message_id`` is what the CALLERROR must carry.

    ``message_type`` is the frame's type when readable: a broken CALLRESULT or CALLERROR is
    never answered (P4 §4.2 allows a CALLERROR only in reply to a CALL)."""

    def __init__(self, code: str, description: str, message_id: str = UNKNOWN_ID,
                 message_type: int | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(code, description, details)
        self.message_id = message_id
        self.message_type = message_type

    @property
    def answerable(self) -> bool:
        return self.message_type not in (CALLRESULT, CALLERROR)


@dataclass(frozen=True)
class Call:
    message_id: str
    action: str
    payload: dict[str, Any]
    # The frame as received (``parse``; empty for a CALL made here): what reads back as this call.
    text: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class CallResult:
    message_id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class CallError:
    message_id: str
    code: str
    description: str = ""
    details: dict[str, Any] = field(default_factory=dict)


Frame = Call | CallResult | CallError

_SHAPES = {CALL: 4, CALLRESULT: 3, CALLERROR: 5}
# Where the payload sits in each frame type (a CALLERROR's "payload" is its details).
_PAYLOAD_INDEX = {CALL: 3, CALLRESULT: 2, CALLERROR: 4}
_REPLACEMENT = "\ufffd"
# The frame's elements before its payload, by position.
_ELEMENT_NAMES = {CALL: {1: "message id", 2: "action"}, CALLRESULT: {1: "message id"},
                  CALLERROR: {1: "message id", 2: "error code", 3: "error description"}}


def parse(text: str | bytes) -> Frame:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise FrameError(ErrorCode.RPC_FRAMEWORK_ERROR, "frame is not valid UTF-8") from None
    try:
        frame = json_codec.loads(text)
    except ValueError as exc:
        # JSONDecodeError has .msg; a bare ValueError (an integer over Python's 4,300-digit limit) has not.
        reason = getattr(exc, "msg", None) or str(exc)
        raise FrameError(ErrorCode.RPC_FRAMEWORK_ERROR, f"frame is not valid JSON: {reason}") from None
    except RecursionError:
        raise FrameError(ErrorCode.RPC_FRAMEWORK_ERROR, "frame is nested too deeply to be read") from None
    if not isinstance(frame, list) or not frame:
        raise FrameError(ErrorCode.RPC_FRAMEWORK_ERROR, "frame is not a non-empty JSON array")
    message_type = frame[0]
    message_id = _readable_id(frame)
    # bool is an int in Python; [true, ...] is not a message type.
    if not isinstance(message_type, int) or isinstance(message_type, bool):
        raise FrameError(ErrorCode.RPC_FRAMEWORK_ERROR, "message type is not a number", message_id)
    if message_type not in _SHAPES:
        raise FrameError(ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED,
                         f"message type {message_type} is not supported", message_id)
    if message_id == UNKNOWN_ID:
        raise FrameError(ErrorCode.RPC_FRAMEWORK_ERROR,
                         f"message id must be a string of 1 to {MESSAGE_ID_MAX} characters",
                         message_type=message_type)
    def broken(code: str, description: str) -> FrameError:
        return FrameError(code, description, message_id, message_type)

    if len(frame) != _SHAPES[message_type]:
        raise broken(ErrorCode.RPC_FRAMEWORK_ERROR,
                     f"message type {message_type} needs {_SHAPES[message_type]} elements, got {len(frame)}")
    # Both can only come from a \\u escape: without one in the text, no string needs a look.
    if "\\u" in text:
        _check_text(frame, message_type, message_id)
    if message_type == CALL:
        _, _, action, payload = frame
        if not isinstance(action, str) or not action:
            raise broken(ErrorCode.RPC_FRAMEWORK_ERROR, "action is not a non-empty string")
        if not isinstance(payload, dict):
            raise broken(ErrorCode.FORMAT_VIOLATION, f"payload of {action} is not a JSON object")
        return Call(message_id, action, payload, text)
    if message_type == CALLRESULT:
        if not isinstance(frame[2], dict):
            raise broken(ErrorCode.FORMAT_VIOLATION, "CALLRESULT payload is not a JSON object")
        return CallResult(message_id, frame[2])
    _, _, code, description, details = frame
    if not isinstance(code, str) or not isinstance(description, str) or not isinstance(details, dict):
        raise broken(ErrorCode.RPC_FRAMEWORK_ERROR, "CALLERROR needs a string code, a string description and an object")
    return CallError(message_id, code, description, details)


def _check_text(frame: list, message_type: int, message_id: str) -> None:
    """Replace U+0000 in place; raise FrameError at the first lone surrogate (module docstring)."""
    path = _scrub(frame)
    if path is None:
        return
    if path[0] != _PAYLOAD_INDEX[message_type]:
        # Outside the id, the id still names the frame: a broken CALLERROR still ends its call
        # at once, a CALL's refusal carries its id.
        where = _ELEMENT_NAMES[message_type][path[0]]
        raise FrameError(ErrorCode.RPC_FRAMEWORK_ERROR, f"{where} holds a lone surrogate escape",
                         UNKNOWN_ID if path[0] == 1 else message_id, message_type)
    field = ".".join(str(part) for part in path[1:])
    raise FrameError(ErrorCode.FORMAT_VIOLATION,
                     f"{field or 'payload'} holds a lone surrogate escape, which is no Unicode character",
                     message_id, message_type, {"field": field})


def _scrub(root: list) -> tuple[Any, ...] | None:
    """Walk every string (keys too) without recursion: the frame may be nested as deep as the
    parser allowed. U+0000 becomes U+FFFD; the path of the first lone surrogate is returned."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        for key, value in list(node.items() if isinstance(node, dict) else enumerate(node)):
            if isinstance(key, str):
                if LONE_SURROGATE.search(key):
                    return (*path, key)
                if NUL in key:
                    node[key.replace(NUL, _REPLACEMENT)] = node.pop(key)
                    key = key.replace(NUL, _REPLACEMENT)
            if isinstance(value, str):
                if LONE_SURROGATE.search(value):
                    return (*path, key)
                if NUL in value:
                    node[key] = value.replace(NUL, _REPLACEMENT)
            elif isinstance(value, (dict, list)):
                stack.append((value, (*path, key)))
    return None


def _readable_id(frame: list) -> str:
    if len(frame) > 1 and isinstance(frame[1], str) and 0 < len(frame[1]) <= MESSAGE_ID_MAX:
        return frame[1]
    return UNKNOWN_ID


def serialize(frame: Frame) -> str:
    if isinstance(frame, Call):
        body: list = [CALL, frame.message_id, frame.action, frame.payload]
    elif isinstance(frame, CallResult):
        body = [CALLRESULT, frame.message_id, frame.payload]
    else:
        body = [CALLERROR, frame.message_id, frame.code, frame.description[:DESCRIPTION_MAX], frame.details]
    return json_codec.dumps(body)


def error_for(message_id: str, error: OcppError) -> CallError:
    return CallError(message_id, error.code, error.description, error.details)
