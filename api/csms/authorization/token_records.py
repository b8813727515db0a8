"""An id token as operators write it (REST, CLI, CSV and JSON files): checked field by field
against the OCPP 2.0.1 schema's types and lengths, so that what is stored always fits an
IdTokenInfoType and an AuthorizationData entry.

The same names serve every door: the JSON keys, the CSV columns and the CLI options (with
dashes). ``evse_ids`` is a list in JSON and ``1;2`` in CSV; an empty CSV cell means "not set".
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from ocpp.v201.enums import AuthorizationStatusEnumType, IdTokenEnumType, MessageFormatEnumType

from api.core import csv_cells
from api.core.refusal import Refusal
from api.core.text import unstorable
from policies.names import control_character
from storage.id_tokens import EVSE_IDS_MAX, ID_TOKEN_MAX, LANGUAGE_MAX, MESSAGE_MAX, SELECTOR_MAX, IdToken
from storage.types import INT32_MAX, as_utc

TOKEN_TYPES = tuple(t.value for t in IdTokenEnumType)
STATUSES = tuple(s.value for s in AuthorizationStatusEnumType)
MESSAGE_FORMATS = tuple(f.value for f in MessageFormatEnumType)


class FieldProblem(Refusal):
    """One field of one token is wrong; ``row`` is set when the token came from an import."""

    def __init__(self, field: str, problem: str, row: int | None = None) -> None:
        where = f"row {row}: " if row is not None else ""
        super().__init__("id_token.field", f"{where}{field}: {problem}",
                         details={"row": row} if row is not None else None)
        self.field = field
        self.problem = problem
        self.row = row

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "problem": self.problem}


@dataclass(frozen=True)
class TokenFields:
    """Every field an operator sets on a token (all but id_token and type optional)."""

    id_token: str
    type: str
    status: str = AuthorizationStatusEnumType.accepted.value
    cache_expiry: datetime | None = None
    group_id_token: str | None = None
    group_type: str | None = None
    evse_ids: tuple[int, ...] | None = None
    language1: str | None = None
    language2: str | None = None
    message_format: str | None = None
    message_language: str | None = None
    message_content: str | None = None
    local_list: str | None = None

    def apply_to(self, row: IdToken) -> None:
        for name in FIELD_NAMES:
            value = getattr(self, name)
            setattr(row, name, list(value) if isinstance(value, tuple) else value)
        row.lookup = self.id_token.lower()


FIELD_NAMES = tuple(f.name for f in fields(TokenFields))
_OPTIONAL = FIELD_NAMES[2:]


def _text(field: str, value: Any, limit: int, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise FieldProblem(field, "must be text")
    if not value and not empty:
        raise FieldProblem(field, "must not be empty")
    if len(value) > limit:
        raise FieldProblem(field, f"longer than {limit} characters")
    if control_character(value) is not None:
        raise FieldProblem(field, "contains control characters")
    reason = unstorable(value)   # a lone surrogate, from a JSON file's escape
    if reason is not None:
        raise FieldProblem(field, reason)
    return value


def group_text(field: str, value: Any) -> str:
    """``value`` checked as a groupIdToken is (a MasterPassGroupId is compared with them)."""
    return _text(field, value, ID_TOKEN_MAX)


def _choice(field: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise FieldProblem(field, f"must be one of {', '.join(choices)}")
    return value


def _datetime(field: str, value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise FieldProblem(field, "must be an ISO 8601 date and time, e.g. 2030-01-01T00:00:00Z") from None
    if parsed.tzinfo is None:
        raise FieldProblem(field, "needs a time zone (Z or +hh:mm)")
    try:
        return as_utc(parsed)
    except ValueError as exc:
        raise FieldProblem(field, str(exc)) from None


def _evse_ids(field: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, str):
        try:
            value = [int(part) for part in value.replace(",", ";").split(";") if part.strip()]
        except ValueError:
            raise FieldProblem(field, "must be EVSE ids (whole numbers, separated by ';')") from None
    if not isinstance(value, list | tuple) or not value:
        raise FieldProblem(field, "must be a non-empty list of EVSE ids")
    if len(value) > EVSE_IDS_MAX:
        raise FieldProblem(field, f"more than {EVSE_IDS_MAX} EVSE ids")
    if any(isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= INT32_MAX for v in value):
        raise FieldProblem(field, "EVSE ids are whole numbers from 1")
    return tuple(sorted(set(value)))


def _check_optional(name: str, value: Any) -> Any:
    if name == "status":
        return _choice(name, value, STATUSES)
    if name == "cache_expiry":
        return _datetime(name, value)
    if name in ("group_id_token",):
        return group_text(name, value)
    if name == "group_type":
        return _choice(name, value, TOKEN_TYPES)
    if name == "evse_ids":
        return _evse_ids(name, value)
    if name in ("language1", "language2", "message_language"):
        return _text(name, value, LANGUAGE_MAX)
    if name == "message_format":
        return _choice(name, value, MESSAGE_FORMATS)
    if name == "message_content":
        return _text(name, value, MESSAGE_MAX)
    if name == "local_list":
        return _text(name, value, SELECTOR_MAX)
    raise AssertionError(name)  # pragma: no cover


def token_fields(data: Mapping[str, Any]) -> TokenFields:
    """``data`` checked: unknown keys, wrong types, lengths and values are refused by field name."""
    unknown = sorted(set(data) - set(FIELD_NAMES))
    if unknown:
        raise FieldProblem(unknown[0], f"unknown field (known: {', '.join(FIELD_NAMES)})")
    if "type" not in data or data["type"] in (None, ""):
        raise FieldProblem("type", "is required")
    token_type = _choice("type", data["type"], TOKEN_TYPES)
    if "id_token" not in data or data["id_token"] is None:
        raise FieldProblem("id_token", "is required")
    # NoAuthorization carries an empty idToken (C01 without identification).
    value = _text("id_token", data["id_token"], ID_TOKEN_MAX,
                  empty=token_type == IdTokenEnumType.no_authorization.value)
    if len(value.lower()) > ID_TOKEN_MAX:   # U+0130 is two characters in lower case, the form looked up
        raise FieldProblem("id_token", f"longer than {ID_TOKEN_MAX} characters in lower case, the form a "
                                       "token is looked up by")
    checked: dict[str, Any] = {}
    for name in _OPTIONAL:
        given = data.get(name)
        if given is not None and given != "":
            checked[name] = _check_optional(name, given)
    return _consistent(TokenFields(id_token=value, type=token_type, **checked))


def _consistent(token: TokenFields) -> TokenFields:
    if token.group_id_token and not token.group_type:
        token = _replace(token, group_type=IdTokenEnumType.central.value)
    if token.group_type and not token.group_id_token:
        raise FieldProblem("group_type", "given without group_id_token")
    message = (token.message_format, token.message_content)
    if any(message) and not all(message):
        raise FieldProblem("message_content" if token.message_format else "message_format",
                           "a personal message needs both message_format and message_content")
    if token.message_language and not token.message_content:
        raise FieldProblem("message_language", "given without message_content")
    return token


def _replace(token: TokenFields, **changes: Any) -> TokenFields:
    return TokenFields(**{**{name: getattr(token, name) for name in FIELD_NAMES}, **changes})


def changed(token: TokenFields, changes: Mapping[str, Any]) -> TokenFields:
    """``token`` with ``changes`` (None clears an optional field), checked again as a whole."""
    if "id_token" in changes or "type" in changes:
        raise FieldProblem("id_token" if "id_token" in changes else "type",
                           "cannot be changed; delete the token and add a new one")
    if "status" in changes and changes["status"] is None:
        # Cleared, it took its default, Accepted: a null meant as "leave it" unblocked a Blocked token.
        raise FieldProblem("status", "cannot be cleared (it would become Accepted); give the status it should have")
    current = {name: getattr(token, name) for name in FIELD_NAMES}
    current["evse_ids"] = list(token.evse_ids) if token.evse_ids else None
    # Clearing a field clears the fields that only qualify it.
    for cleared, dependents in (("group_id_token", ("group_type",)),
                                ("message_content", ("message_format", "message_language"))):
        if cleared in changes and changes[cleared] is None:
            for dependent in dependents:
                current[dependent] = None
    return token_fields({**current, **changes})


def of_row(row: IdToken) -> TokenFields:
    return TokenFields(**{name: (tuple(getattr(row, name)) if name == "evse_ids" and getattr(row, name)
                                 else getattr(row, name)) for name in FIELD_NAMES})


def as_json(row: IdToken) -> dict[str, Any]:
    """A stored token in the one shape every door shows and import reads back."""
    out: dict[str, Any] = {"id": row.id}
    for name in FIELD_NAMES:
        value = getattr(row, name)
        out[name] = value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else value
    return out


# --- files ------------------------------------------------------------------------------------

def rows_from_json(text: str) -> list[Mapping[str, Any]]:
    """A JSON import: a list of tokens, or ``{"tokens": [...]}`` (what export writes)."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise FieldProblem("body", f"not JSON: {exc}") from None
    except RecursionError:   # REST's text guard stops such a body first; a CLI file reaches here
        raise FieldProblem("body", "nested too deeply to be read") from None
    if isinstance(document, dict) and "tokens" in document:
        others = sorted(set(document) - {"tokens"})
        if others:   # ignored, a key meant to change how the import works would change nothing
            named = others[0] if _unnamable(others[0]) is None else "body"
            raise FieldProblem(named, "unknown key beside \"tokens\" (export writes only that one)")
        document = document["tokens"]
    if not isinstance(document, list):
        raise FieldProblem("body", "must be a list of tokens or {\"tokens\": [...]}")
    for number, item in enumerate(document, start=1):
        if not isinstance(item, dict):
            raise FieldProblem("row", "each token must be a JSON object", row=number)
        # A key REST's text guard would have refused (a CLI file is not guarded), or one with a
        # control character: echoed as an unknown field, no audit entry or terminal could take it.
        reason = next(filter(None, map(_unnamable, item)), None)
        if reason is not None:
            raise FieldProblem("row", f"a key {reason}", row=number)
    return [{key: value for key, value in item.items() if key != "id"} for item in document]


def _unnamable(name: str) -> str | None:
    """Why a file's key or column name cannot be named in a refusal: no column stores it, or a
    control character in it would split the CLI's one-line message or reach the officer's
    terminal as an escape sequence (clear the screen, set the window title)."""
    if (reason := unstorable(name)) is not None:
        return reason
    return "holds a control character" if control_character(name) is not None else None


def rows_from_csv(text: str) -> list[Mapping[str, Any]]:
    """A CSV import with a header row naming the fields (``id`` is ignored, as export writes it)."""
    reader = csv.DictReader(io.StringIO(text))
    number = 0
    try:
        if not reader.fieldnames:
            raise FieldProblem("body", "CSV without a header row")
        _check_columns(reader.fieldnames)
        rows = []
        for number, record in enumerate(reader, start=1):
            if None in record:  # more cells than the header names
                raise FieldProblem("row", "more cells than columns", row=number)
            rows.append({key: csv_cells.readable(value) if isinstance(value, str) else value
                         for key, value in record.items() if key != "id"})
    except csv.Error as exc:
        # A cell past the csv module's limit (128 KiB; no field takes more than 512 characters)
        # or a bare carriage return inside a cell: the file is refused with where, not a 500.
        raise FieldProblem("body", f"not readable as CSV at line {reader.line_num + 1}: {exc}",
                           row=number + 1) from None
    return rows


def _check_columns(names: Iterable[str]) -> None:
    seen: set[str] = set()
    for name in names:
        # A NUL (no audit entry of the refusal could hold it on PostgreSQL) or a control character.
        if (reason := _unnamable(name)) is not None:
            raise FieldProblem("row", f"a column name {reason}", row=1)
        if name not in FIELD_NAMES and name != "id":
            raise FieldProblem(name, f"unknown CSV column (known: {', '.join(FIELD_NAMES)})", row=1)
        if name in seen:   # the reader keeps the last cell: the first would be dropped unseen
            raise FieldProblem(name, "CSV column given twice", row=1)
        seen.add(name)


def to_csv(rows: Iterable[IdToken]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("id", *FIELD_NAMES))
    for row in rows:
        shown = as_json(row)
        shown["evse_ids"] = ";".join(str(e) for e in row.evse_ids) if row.evse_ids else None
        writer.writerow(["" if shown[name] is None else csv_cells.written(shown[name])
                         for name in ("id", *FIELD_NAMES)])
    return out.getvalue()
