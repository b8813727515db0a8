"""Typed commands: one route per CSMS-initiated OCPP 2.0.1 action,
``POST /api/v1/stations/{id}/commands/{action}``, its body the command's fields (snake_case, the
spec's enums and data types; OpenAPI shows them).

A command travels the operator's one path (station_ops.send_operator_call → operator_calls):
the same role, rule checks and audit as the raw ``POST …/calls``, which stays for experts.
``?mode=sync`` waits and answers with the station's answer read into the command's typed result;
``?mode=job`` stores it as an outbox job (202, poll the ``Location``), sent when the station is
connected.

No ``from __future__ import annotations`` here: the routes are built in a loop, and FastAPI
must see each one's body type itself, not a name to look up later.
"""

import asyncio
import dataclasses
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.core.audit import record_failure
from api.csms.call_records import CALL, sync_call_detail
from api.csms.call_rules import OFFICER, OPERATOR, call_rule, least_role
from api.csms.operator_calls import role_refusal
from api.csms.routes import ANSWERS, COMMANDS
from api.ocpp.command import BadAnswer, CommandType
from api.ocpp.session import ANSWERED, CallOutcome
from api.ocpp.validation import SchemaViolation, ocpp_schema
from api.rest import errors
from api.rest.auth import Principal, StationOps, authenticate, current_context, require_role
from api.rest.errors import ApiError
from api.rest.routers.station_ops import CallJobOut, GatewayDep, JobsDep, send_operator_call

router = APIRouter(tags=["commands"])

Mode = Literal["sync", "job"]


class CommandOutcome(BaseModel):
    """How a command sent now ended (a timeout or no connection are 504 / 409, not an outcome)."""

    action: str
    status: Literal["answered", "error"] = Field(
        description="answered: the station's answer is in `result`; error: it answered with a CALLERROR "
                    "(`error_code`), or with an answer that is not a valid response.")
    result: Any = Field(None, description="The station's answer, its fields in snake_case (e.g. `status`, "
                                          "`status_info`, and the action's own), read and checked against the "
                                          "action's response schema.")
    error_code: str | None = None
    description: str = ""
    sent: bool = True


def _snake(field: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", field).lower()


def build(command_type: CommandType, body: Any) -> dict[str, Any]:
    """The request, schema-checked here so a refusal names the body's own field."""
    try:
        return (body or command_type()).request()
    except SchemaViolation as violation:
        raise ApiError(422, violation.description, rule="call.schema",
                       field=f"body.{_snake(violation.field)}" if violation.field else "body",
                       ocpp_error_code=violation.code) from None


def answered_outcome(action: str, answered: CallOutcome) -> CommandOutcome:
    """A call sent now, as its command's typed outcome."""
    if answered.status != ANSWERED:
        return CommandOutcome(action=action, status="error", error_code=answered.error_code,
                              description=answered.description, sent=answered.sent)
    try:
        result = ANSWERS[action](answered.response)
    except BadAnswer as exc:
        return CommandOutcome(action=action, status="error", description=str(exc))
    return CommandOutcome(action=action, status="answered", result=result)


def _officer_only(action: str) -> Any:
    """The role check of a command no operator may ever send, before its body is read: refused
    (403) and audited as the raw call refuses and audits it (``station.call``, rule ``call.role``)
    whatever the body, and an auditor as on every route (``api.denied``)."""
    rule = call_rule(action, {})
    officer = require_role(OFFICER)

    async def check(request: Request, station_id: str,
                    principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.role == OPERATOR:
            refused = role_refusal(principal.actor, action, rule)
            detail = {**sync_call_detail(principal.actor, action),
                      "mode": "async" if request.query_params.get("mode") == "job" else "sync"}
            await asyncio.to_thread(record_failure, current_context(request), principal.actor, CALL, station_id,
                                    detail, refused)
            raise refused
        return await officer(request, principal)

    check.roles = (OFFICER,)  # type: ignore[attr-defined] - as require_role's
    return Annotated[Principal, Depends(check)]


def _route(command_type: CommandType) -> None:
    action = command_type.action
    has_fields = bool(dataclasses.fields(command_type))
    # A command without arguments (ClearCache, GetLocalListVersion) may come without a body.
    body_type = command_type if has_fields else command_type | None
    # An action no operator may ever send (api/csms/call_rules.py) is refused on the role before
    # its body is read, as on the raw call: 403 and audited (api.denied), never a 422 about the body.
    officer_only = least_role(action) == OFFICER
    principal_type = _officer_only(action) if officer_only else StationOps

    async def send(*, station_id: str, principal: principal_type, gateway: GatewayDep,  # type: ignore[valid-type]
                   jobs: JobsDep,
                   body: body_type = ... if has_fields else None,  # type: ignore[valid-type]
                   mode: Mode = Query("sync", description="sync: wait for the station's answer; job: store it "
                                                          "(202) and send it when the station is connected."),
                   timeout: float | None = Query(None, gt=0, le=300, description="Seconds to wait for the "
                                                 "answer, queueing included. Default: the gateway's.")) -> Any:
        payload = build(command_type, body)
        answered = await send_operator_call(gateway, jobs, principal.actor, station_id, action, payload,
                                            job=mode == "job", timeout=timeout)
        if isinstance(answered, JSONResponse):
            return answered
        return answered_outcome(action, answered)

    doc = (command_type.__doc__ or action).strip()
    router.post(
        f"/api/v1/stations/{{station_id}}/commands/{action}", response_model=CommandOutcome,
        name=f"command_{action}", summary=f"{action}: {doc.splitlines()[0]}",
        description=f"{doc}\n\n" + ("Role: officer. " if officer_only else "Roles: officer, operator; ")
                    + "each action has its own role, and its rule checks, exactly as on "
                    "`POST /api/v1/stations/{id}/calls` (api/csms/call_rules.py). Every call and refusal is audited.",
        responses={202: {"model": CallJobOut, "description": "mode=job: stored; poll `Location`."},
                   409: {"model": errors.ErrorBody, "description": "sync: station not connected."},
                   504: {"model": errors.ErrorBody, "description": "sync: no answer in time."},
                   **errors.responses(401, 403, 404, 422, 503)},
    )(send)


for _command in sorted(COMMANDS.values(), key=lambda command: command.action):
    _route(_command)


def document_ocpp_formats(app: Any) -> None:
    """Show in the OpenAPI document what the OCPP schema asks of each typed command's fields and
    the body types do not say: which strings are date-times, and that integers are 32 bits
    (api/ocpp/validation.py). Those are checked whatever the document says; this tells a client."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        for action in COMMANDS:
            operation = document["paths"].get(f"/api/v1/stations/{{station_id}}/commands/{action}", {}).get("post")
            body = (operation or {}).get("requestBody", {}).get("content", {}).get("application/json", {})
            if "schema" in body:
                spec = ocpp_schema(action)
                _annotate(document, body["schema"], spec, spec)
        return document

    app.openapi = openapi


def _resolved(document: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """``schema`` and, through $ref and optional (``X | None``) wrappers, what it stands for."""
    if "$ref" in schema:
        return _resolved(document, document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
    found = [schema]
    for choice in schema.get("anyOf", ()):
        found += _resolved(document, choice)
    return found


def _annotate(document: dict[str, Any], schema: dict[str, Any], spec: dict[str, Any], root: dict[str, Any]) -> None:
    if "$ref" in spec:
        spec = root["definitions"][spec["$ref"].rsplit("/", 1)[1]]
    for node in _resolved(document, schema):
        kind = node.get("type")
        if kind == "object":
            for name, sub in spec.get("properties", {}).items():
                if _snake(name) in node.get("properties", {}):
                    _annotate(document, node["properties"][_snake(name)], sub, root)
        elif kind == "array" and "items" in spec:
            _annotate(document, node["items"], spec["items"], root)
        elif kind == "string" and "format" in spec:
            node["format"] = spec["format"]
        elif kind == "integer":   # the tighter of the body type's bound and OCPP's
            if "minimum" in spec:
                node["minimum"] = max(node.get("minimum", spec["minimum"]), spec["minimum"])
            if "maximum" in spec:
                node["maximum"] = min(node.get("maximum", spec["maximum"]), spec["maximum"])
