"""The REST API for security officers, operators and auditors, plus public CRL and OCSP.

``create_app(ctx)`` builds the FastAPI application; ``chargeca serve`` runs it under uvicorn on
the process's event loop. The OpenAPI document (/openapi.json, browsable at /docs) is the contract.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from importlib import metadata

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.core.context import Context
from api.operations.id_tokens import IMPORT_BYTES_MAX
from api.rest import errors
from api.rest.active_requests import ActiveRequests, RequestTurns
from api.rest.auth import TOKEN_CACHE_TTL, VerifiedTokens
from api.rest.auth_failures import AuthFailures
from api.rest.query_guard import QueryGuard
from api.rest.routers import (
    audit,
    authorities,
    availability,
    certificates,
    commands,
    customer_information,
    display,
    docs,
    firmware,
    id_tokens,
    local_list,
    logs,
    message_log,
    metrics,
    monitoring,
    policy,
    profile_upgrade,
    provisioning,
    remote_control,
    reservations,
    revocation,
    rotations,
    security_events,
    station_certificates,
    station_ops,
    stations,
    tariffs,
    tokens,
    transactions,
    trust_anchors,
)
from api.rest.text_guard import TextGuard

# The largest JSON body is a CSR: 5500 characters by the OCPP schema, so 64 KiB is generous.
BODY_MAX = 64 * 1024
_BODY_MAX_BY_PATH = {"/ocsp": revocation.OCSP_REQUEST_MAX, "/api/v1/id-tokens/import": IMPORT_BYTES_MAX}

_TAGS = [
    {"name": "stations", "description": "Charging station registry."},
    {"name": "certificates", "description": "Station certificates: CSR signing, lookup, revocation."},
    {"name": "authorities", "description": "Root and sub-CAs."},
    {"name": "revocation (public)", "description": "CRLs and OCSP for relying parties; no token."},
    {"name": "audit", "description": "Who did what, when, with what outcome; hash-chained."},
    {"name": "tokens", "description": "API tokens of officers, operators and auditors."},
    {"name": "policy", "description": "The effective policy."},
    {"name": "security events", "description": "Security events of stations and of the CSMS."},
    {"name": "station operations", "description": "Connected stations over OCPP: calls, boot policy, passwords."},
    {"name": "commands", "description": "One typed command per CSMS-initiated OCPP 2.0.1 action, sent now or as a "
                                        "job, with the same roles, rule checks and audit as the raw call."},
    {"name": "trust anchors", "description": "Roots installed on stations: inventory, install, delete (M03-M05)."},
    {"name": "id tokens", "description": "The tokens Authorize and TransactionEvent are answered from (C): CRUD, "
                                         "bulk import and export, master-pass groups."},
    {"name": "local list", "description": "Stations' local authorization lists (D01/D02)."},
    {"name": "transactions", "description": "Transactions and meter values as stations reported them (E, J)."},
    {"name": "metrics", "description": "Prometheus metrics (any role; give Prometheus an auditor token)."},
    {"name": "remote control", "description": "Remote starts with ids ChargeCA draws, and what became of them (F)."},
    {"name": "availability", "description": "EVSE and connector states, their history, availability changes (G)."},
    {"name": "provisioning", "description": "Device model, report requests, resets, network profiles, onboarding (B)."},
    {"name": "reservations", "description": "Reservations: reserve, cancel, and what became of them (H)."},
    {"name": "logs", "description": "Station logs (N01): GetLog with an upload location ChargeCA runs, status "
                                  "reports, the files with their checksums."},
    {"name": "tariffs", "description": "A tariff per station and a default one; the cost shown to drivers (I)."},
    {"name": "customer information", "description": "What stations keep about a customer: reported, erased "
                                                    "(N09/N10); personal data, every read audited."},
    {"name": "monitoring", "description": "Monitors on stations' variables, monitoring base and level, reports, "
                                          "and the events stations send (N02-N08)."},
    {"name": "display messages", "description": "Messages shown on stations' displays (O01-O06)."},
    {"name": "firmware", "description": "Firmware (L): manufacturer roots, signed images, ChargeCA's own signer, "
                                        "UpdateFirmware and its statuses, campaigns."},
    {"name": "message log", "description": "Every OCPP frame in and out of every station session, redacted: "
                                          "browse, filter, export."},
    {"name": "rotations", "description": "Scripted rotations in resumable passes: station certificates, CSMS server "
                                         "certificates, CSMS root rollover."},
]


def _version() -> str:
    try:
        return metadata.version("chargeca")
    except metadata.PackageNotFoundError:
        return "0"


def create_app(ctx: Context, *, token_cache_ttl: float = TOKEN_CACHE_TTL) -> FastAPI:
    auth_failures = AuthFailures(ctx, ctx.policy.rest)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with auth_failures.writing():
            yield

    # /docs and /redoc are ours (api/rest/routers/docs.py): FastAPI's own load from a CDN.
    app = FastAPI(
        docs_url=None,
        redoc_url=None,
        title="ChargeCA",
        lifespan=lifespan,
        version=_version(),
        description="Certificates and PKI for OCPP 2.0.1 charging stations. Authenticate with "
                    "`Authorization: Bearer cca_<id>_<secret>`; roles: officer (everything), operator "
                    "(stations and CSR signing, reading), auditor (reading, audit log included). "
                    "Every error is JSON: `{\"error\": ..., \"rule\"?: ..., \"field\"?: ...}`.",
        openapi_tags=_TAGS,
    )
    app.mount(docs.STATIC_URL, StaticFiles(directory=docs.STATIC_PATH), name="static-offline-docs")
    app.state.ctx = ctx
    app.state.verified_tokens = VerifiedTokens(token_cache_ttl)
    app.state.auth_failures = auth_failures
    errors.install(app)
    # Inside TextGuard: a parameter name it refuses is never looked up here.
    app.add_middleware(QueryGuard, routes=app.router.routes)
    # Inside BodyLimit (added after it, so around it): a JSON body it reads whole is bounded.
    app.add_middleware(TextGuard)
    # A firmware image is streamed to disk within its own limit (the policy's).
    app.add_middleware(BodyLimit, default=BODY_MAX, by_path={
        **_BODY_MAX_BY_PATH, firmware.IMAGES_PATH: ctx.policy.firmware.max_image_mb * 1024 * 1024})
    # Outermost of ours: every step of a request waits its turn, its refusals included.
    app.state.request_turns = RequestTurns(ctx.policy.rest.max_active_requests)
    app.add_middleware(ActiveRequests, turns=app.state.request_turns)
    for module in (stations, certificates, authorities, revocation, audit, tokens, policy, security_events,
                   station_ops, commands, trust_anchors, profile_upgrade, station_certificates, rotations, metrics,
                   id_tokens, local_list, transactions, remote_control, availability, reservations, tariffs,
                   customer_information, monitoring, display, logs, firmware,
                   provisioning, message_log, docs):
        # The routers' own routes, not include_router: an included router builds its routes
        # again for each application, on its first request (request models, dependencies: half
        # the CPU of the conformance tests, which build an application a test), while these were
        # built once, when their module was imported. Nothing is added at inclusion here (no
        # prefix, tags or dependencies of the application's own).
        app.router.routes.extend(module.router.routes)
    errors.document_common_answers(app)
    commands.document_ocpp_formats(app)
    return app


class BodyLimit:
    """Refuse request bodies over a limit with 413 before they are buffered.

    A declared Content-Length over the limit is answered at once; a body without one (chunked)
    is counted as it is read, and reading fails with an HTTPException(413), which the exception
    handlers turn into the usual JSON error.
    """

    def __init__(self, app: ASGIApp, *, default: int, by_path: dict[str, int]) -> None:
        self.app = app
        self.default = default
        self.by_path = by_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.by_path.get(scope["path"], self.default)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await errors.error_response(413, _too_large(limit))(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, _too_large(limit))
            return message

        await self.app(scope, receive_within_limit, send)


def _too_large(limit: int) -> str:
    return f"request body larger than {limit} bytes"


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
