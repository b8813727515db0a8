"""GET /metrics: the Prometheus exposition (api/metrics.py says what is in it).

Behind an API token like every other route, any role: give Prometheus an auditor token
(`chargeca token create --role auditor`, then `authorization: {credentials_file: ...}` in the
scrape config). Loopback-only would not do: the REST port is reached through a proxy.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api import metrics
from api.rest import errors
from api.rest.auth import AnyRole, Ctx
from api.rest.routers.station_ops import GatewayDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response, responses={
    200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}, "description": "Prometheus text format."},
    **errors.responses(401, 403, 503)})
async def scrape(_principal: AnyRole, ctx: Ctx, gateway: GatewayDep, request: Request) -> Response:
    """Connections by security profile, OCPP messages and errors by action, admission refusals by
    rule, certificates issued/revoked/expiring within 30 days, outbox depth and age, REST requests
    worked on and waiting for a turn.
    Roles: officer, operator, auditor."""
    # Read on the event loop, which owns the gateway's tables; the database part in a thread.
    profiles = Counter(session.connection.security_profile for session in gateway.sessions())
    slots = request.app.state.request_turns.now()
    turns = metrics.RestTurns(slots.limit, slots.working, slots.waiting)
    body = await asyncio.to_thread(metrics.render, ctx, profiles, turns)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
