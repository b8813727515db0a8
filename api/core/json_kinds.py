"""A request body read as its JSON types say, not as pydantic's lax mode would read it.

Lax, pydantic reads ``true`` as 1, ``"2"`` as 2, ``1`` as True and ``1000000000000`` as a
date-time in milliseconds: an UnlockConnector with ``"evse_id": true`` went to EVSE 1, a
``"dry_run": 0`` ran the rotation. Strict mode cannot be had for the lot, since FastAPI
validates the parsed body as Python values, and there an enum or a date-time must come as its
own type rather than as the JSON string it is sent as. So the body is read lax, then compared
with what it was read into: a value whose JSON type changed on the way is refused, with its
place named (api/rest/request_body.py, api/ocpp/command.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

Path = tuple[str | int, ...]


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, (list, tuple)) else "object" if isinstance(value, dict) else "other"


def _same_kind(sent: Any, read: Any) -> bool:
    sent_kind, read_kind = _kind(sent), _kind(read)
    if sent_kind == read_kind or "other" in (sent_kind, read_kind):
        return True
    # JSON has one number type: 5 for a float field, or 5.0 for an integer one (as JSON Schema,
    # and so OCPP's schemas, take it), is the same number.
    return (sent_kind, read_kind) in (("integer", "number"), ("number", "integer")) and sent == read


def retyped(sent: Any, read: Any, path: Path = ()) -> tuple[Path, str] | None:
    """The first place where ``read`` (the body as validated, as JSON values) holds a value of
    another JSON type than ``sent`` (the body as parsed), and what changed; None when none did."""
    if not _same_kind(sent, read):
        return path, f"a JSON {_kind(sent)} was sent where {_article(_kind(read))} is expected"
    if isinstance(sent, dict) and isinstance(read, dict):
        for key, value in sent.items():
            if key in read and (found := retyped(value, read[key], (*path, key))) is not None:
                return found
    elif isinstance(sent, (list, tuple)) and isinstance(read, (list, tuple)):
        for index, (value, kept) in enumerate(zip(sent, read, strict=False)):
            if (found := retyped(value, kept, (*path, index))) is not None:
                return found
    return None


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def read_as_sent(sent: Any, read: Callable[[Any], Any], as_json: Callable[[Any], Any]) -> Any:
    """``read(sent)`` (pydantic's validation), refused as a ValidationError naming the field when a
    value's JSON type changed on the way; ``as_json`` gives the result back as JSON values."""
    result = read(sent)
    if isinstance(sent, dict) and (found := retyped(sent, as_json(result))) is not None:
        path, problem = found
        raise ValidationError.from_exception_data("body", [InitErrorDetails(
            type=PydanticCustomError("json_type", problem), loc=path, input=_at(sent, path))])
    return result


def _at(value: Any, path: Path) -> Any:
    for step in path:
        value = value[step]
    return value
