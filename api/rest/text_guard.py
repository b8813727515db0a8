"""Requests holding text no column can store, or numbers JSON does not have, are refused before
any route runs, naming where.

A NUL character in a query parameter reached PostgreSQL as a driver error, a 500, on every
route that filters by text; a lone surrogate (JSON's ``"\\ud800"``) would fail wherever it is
encoded. NaN and Infinity (and 1e400, read as infinity) are no JSON, yet Python's parser takes
them, and a typed command sent them on to a station (CostUpdated's totalCost). Checked here,
once for the whole API, a route added later is covered without knowing of it: the path, every
query parameter, every string and key of a JSON body (api/core/text.py) and its numbers. The
answer is the API's 422 (``field`` as FastAPI names it: ``query.action``,
``body.id_token.id_token``), and never echoes the text.

A JSON body is read whole here (BodyLimit, around this, bounds it) and handed on as it came.
One that cannot be parsed is left to the route, which answers as it always did, except for one
nested too deeply to parse at all: 400 here, where the parser's RecursionError would be a 500.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.core.text import first_where, non_finite, unstorable
from api.rest import errors

RULE = "request.text"


class TextGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = _in_path(scope) or _in_query(scope)
        if found is None and _is_json(scope):
            try:
                body = await _read_body(receive)
            except HTTPException as exc:   # BodyLimit's: over the limit, answered as the routes would
                await errors.error_response(exc.status_code, str(exc.detail))(scope, receive, send)
                return
            receive = _replay(body, receive)
            try:
                found = _in_json(body)
            except RecursionError:
                await errors.error_response(400, "the JSON body is nested too deeply to be read")(scope, receive, send)
                return
        if found is None:
            await self.app(scope, receive, send)
            return
        field, reason = found
        await errors.error_response(422, f"invalid request: {field} {reason}", rule=RULE, field=field,
                                    problems=[{"field": field, "problem": reason}])(scope, receive, send)


def _in_path(scope: Scope) -> tuple[str, str] | None:
    reason = unstorable(scope.get("path", ""))
    return None if reason is None else ("path", reason)


# A percent-escape that is no UTF-8: Starlette would hand the route U+FFFD in its place, and a
# filter would look for text nobody sent (found nothing, answered 200).
NOT_UTF8 = "is not UTF-8 (a percent-escape decodes to no character)"


def _in_query(scope: Scope) -> tuple[str, str] | None:
    # Decoded as Starlette decodes it (UTF-8), each undecodable byte kept apart as a surrogate.
    for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True,
                                 errors="surrogateescape"):
        if _undecodable(name):
            return "query", f"has a parameter name that {NOT_UTF8}"
        if _undecodable(value):
            return f"query.{name}", NOT_UTF8
        reason = unstorable(name)
        if reason is not None:   # no name to show: the query as a whole
            return "query", f"has a parameter name that {reason}"
        reason = unstorable(value)
        if reason is not None:
            return f"query.{name}", reason
    return None


def _undecodable(text: str) -> bool:
    # surrogateescape maps each byte it could not decode to U+DC80-U+DCFF.
    return any("\udc80" <= char <= "\udcff" for char in text)


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media_type = value.decode("latin-1").split(";")[0].strip().lower()
            return media_type == "application/json" or media_type.endswith("+json")
    return False


def _in_json(body: bytes) -> tuple[str, str] | None:
    try:
        parsed: Any = json.loads(body)
    except ValueError:   # not JSON, or not UTF-8: the route's own answer
        return None
    found = first_where(parsed, unacceptable)
    if found is None:
        return None
    path, reason = found
    return ".".join(["body", *(str(part) for part in path)]), reason


def unacceptable(leaf: Any) -> str | None:
    """Why a leaf or key of a JSON body is refused: text no column stores, a number JSON lacks."""
    return unstorable(leaf) if isinstance(leaf, str) else non_finite(leaf)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":   # the client went away: what came is all there is
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body again, as one message; after it, whatever the client does next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
