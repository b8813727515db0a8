"""One error shape for the whole REST API: ``{"error": "<message>", "rule"?: ..., "field"?: ..., <more keys>}``.

The handlers here translate what the layers below raise (policy refusals, unknown things, a
database that went away) into that shape, so routers raise domain errors or ``ApiError`` and
never build error bodies by hand. A ``Refusal`` is translated in one place (``_refused``): its
flavour gives the status (RoleRequired 403, NotFound 404, Conflict 409, any other 422); its rule
goes into ``rule`` and its details become keys of the body beside ``error``, where clients of this
API have always found such facts (``valid_reasons``, ``required_roles``, ``sent``). Error bodies never echo the rejected input: a malformed
request may carry a password.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.core.refusal import Conflict, NotFound, Refusal, RoleRequired
from api.rest.request_body import UNKNOWN_FIELD_ERRORS
from pki.authorities import PkiNotInitialized
from pki.keystore import KeyStoreError
from storage.db import DatabaseUnavailable, UnstorableValue

log = logging.getLogger("chargeca.rest")

# The request field each rule is about, so a client can point at the input; a rule family
# ("csr.") names the field of all its rules.
_RULE_FIELDS = {
    "csr.": "csr",
    "revocation.serial": "serial",
    "revocation.ambiguous": "issuer_id",
    "revocation.reason": "reason",
    "station.id": "id",
    "station.profile": "security_profile",
    "station.password": "password",
    "station.profile.reason": "reason",
    "station.profile.no_password": "security_profile",
    "token.role": "role",
    "token.name": "name",
    "token.valid_days": "valid_days",
}
_RETRY_AFTER = {"Retry-After": "5"}
# A body's key that no field of it has (api/rest/request_body.py), in the words of neither pydantic.
UNKNOWN_FIELD = "unknown field; this API ignores none: check its spelling (snake_case) against the OpenAPI document"
# The keys a refusal's details may not take over.
_OWN_KEYS = frozenset({"error", "rule", "field"})


class ErrorBody(BaseModel):
    """Every error response. Some carry more keys, e.g. ``valid_reasons`` or ``problems``."""

    model_config = ConfigDict(extra="allow")

    error: str
    rule: str | None = None
    field: str | None = None


class ApiError(Exception):
    """An error a router raises when no domain exception says it well enough."""

    def __init__(self, status: int, message: str, *, rule: str | None = None, field: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.rule = rule
        self.field = field
        self.headers = headers
        self.extra = extra


def error_response(status: int, message: str, *, rule: str | None = None, field: str | None = None,
                   headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if rule:
        body["rule"] = rule
    if field:
        body["field"] = field
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers)


_DESCRIPTIONS = {
    400: "The request cannot be decoded.",
    401: "Missing, malformed, unknown or revoked API token.",
    403: "The token's role may not do this; `required_roles` lists who may.",
    404: "No such resource.",
    409: "Conflicts with the current state (e.g. already exists, already revoked).",
    413: "Request body too large.",
    415: "Unsupported content type.",
    422: "Invalid request, or refused by policy: `rule` names the rule, `field` the input.",
    429: "Too many failed authentications from this address: wait `Retry-After` seconds.",
    503: "Database unavailable, PKI not initialised, a CA key unavailable (rule `ca.key_unavailable`), or the "
         "server at its connection limit; retry later.",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer with."""
    return {status: {"model": ErrorBody, "description": _DESCRIPTIONS[status]} for status in statuses}


def document_common_answers(app: FastAPI) -> None:
    """Add to every operation of the OpenAPI document the errors the layers around the routes give.

    The middleware and dependencies shared by all routes answer without the route knowing:
    authentication (401, 403, 429 for a source in back-off), parameter validation (422), the
    body limit and JSON parsing (400, 413, 415), the database and the server's connection limit
    (503). A route's own ``responses=`` stay as they are.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                statuses = [503]
                if operation.get("security"):
                    statuses += [401, 403, 429]
                if operation.get("parameters") or "requestBody" in operation:
                    statuses.append(422)
                if "requestBody" in operation:
                    statuses += [400, 413, 415]
                answers = operation.setdefault("responses", {})
                for status in statuses:
                    answers.setdefault(str(status), {
                        "description": _DESCRIPTIONS[status],
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
        document.setdefault("components", {}).setdefault("schemas", {}).setdefault(
            "ErrorBody", ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}"))
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _field_path(location: Sequence[Any]) -> str:
    return ".".join(str(part) for part in location)


async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, exc.message, rule=exc.rule, field=exc.field, headers=exc.headers,
                          **exc.extra)


def _json_expected(request: Request, exc: RequestValidationError) -> bool:
    # FastAPI does not parse a body sent without a JSON content type; its complaint ("Input
    # should be a valid dictionary") would send the client looking in the wrong place.
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_json = media_type == "application/json" or media_type.endswith("+json")
    return not is_json and any(tuple(e.get("loc", ())) == ("body",) for e in exc.errors())


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    if _json_expected(request, exc):
        return error_response(415, "the request body must be JSON (Content-Type: application/json)")
    problems = [{"field": _field_path(e.get("loc", ())),
                 "problem": UNKNOWN_FIELD if e.get("type") in UNKNOWN_FIELD_ERRORS else e.get("msg", "invalid")}
                for e in exc.errors()]
    summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    return error_response(422, f"invalid request: {summary}", field=problems[0]["field"] if problems else None,
                          problems=problems)


async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return error_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


def refusal_status(exc: Refusal) -> int:
    if isinstance(exc, RoleRequired):
        return 403
    if isinstance(exc, NotFound):
        return 404
    return 409 if isinstance(exc, Conflict) else 422


def _rule_field(rule: str) -> str | None:
    return _RULE_FIELDS.get(rule) or next((f for family, f in _RULE_FIELDS.items()
                                           if family.endswith(".") and rule.startswith(family)), None)


async def _refused(_request: Request, exc: Refusal) -> JSONResponse:
    extra: dict[str, Any] = {key: value for key, value in jsonable_encoder(dict(exc.details)).items()
                             if key not in _OWN_KEYS}
    if isinstance(exc, RoleRequired):
        extra["required_roles"] = exc.required_roles
    field = getattr(exc, "field", None) or _rule_field(exc.rule)
    return error_response(refusal_status(exc), str(exc), rule=exc.rule, field=field, **extra)


async def _unstorable(request: Request, exc: DataError) -> JSONResponse:
    # A unit of work outside session_scope (which raises UnstorableValue itself): the same answer.
    return await _refused(request, UnstorableValue(exc))


async def _not_found(request: Request, exc: LookupError) -> JSONResponse:
    if isinstance(exc, (KeyError, IndexError)):
        # These are bugs in our code, not a client asking for something that does not exist.
        return await _internal_error(request, exc)
    return error_response(404, str(exc))


def _first_line(exc: OperationalError) -> str:
    text = str(exc.orig) if exc.orig is not None else type(exc).__name__
    # str(OperationalError) would append the SQL and its parameters, which can hold hashes.
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    reason = _first_line(exc) if isinstance(exc, OperationalError) else str(exc)
    # The driver's message can name hosts and databases: the log gets it, the caller (maybe
    # anonymous, on the CRL route) does not.
    log.warning("database unavailable during %s %s: %s", request.method, request.url.path, reason)
    return error_response(503, "database unavailable; nothing was changed, retry later", headers=_RETRY_AFTER)


# A CA key the key store cannot give (a token gone or refusing, a key deleted, a damaged file).
KEY_UNAVAILABLE = "ca.key_unavailable"


async def _key_unavailable(request: Request, exc: KeyStoreError) -> JSONResponse:
    # The message names key labels, the token and files: the log gets it, the caller (maybe
    # anonymous, on the CRL route) does not; an operator's failed action has it in the audit log.
    log.error("CA key store failed during %s %s: %s", request.method, request.url.path, exc)
    return error_response(503, "a CA key is unavailable (the key store failed); nothing was signed. "
                               "An officer must check the key store (token, PIN, key files); retry later",
                          rule=KEY_UNAVAILABLE, headers=_RETRY_AFTER)


async def _not_initialized(_request: Request, exc: PkiNotInitialized) -> JSONResponse:
    return error_response(503, str(exc))


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal error; the server log has the details")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Refusal, _refused)
    app.add_exception_handler(LookupError, _not_found)
    app.add_exception_handler(DataError, _unstorable)
    app.add_exception_handler(DatabaseUnavailable, _database_unavailable)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(PkiNotInitialized, _not_initialized)
    app.add_exception_handler(KeyStoreError, _key_unavailable)
    app.add_exception_handler(Exception, _internal_error)
