"""The CA hierarchy: root and sub-CAs, with their certificates."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.core.audit import run_in_session
from api.csms.security import authority_service
from api.rest import errors
from api.rest.auth import AnyRole, Ctx, OfficerOnly
from api.rest.schemas import AuthorityOut
from pki.authorities import active_authority
from storage.certificates import CaRole

router = APIRouter(prefix="/api/v1/ca", tags=["authorities"])

PEM_TYPE = "application/x-pem-file"


@router.get("", response_model=list[AuthorityOut], responses=errors.responses(401, 403, 503))
def list_authorities(_principal: AnyRole, ctx: Ctx) -> list[AuthorityOut]:
    """Every certificate authority (root, station, server, V2G; retired ones too), oldest first,
    with certificate PEM and validity. Roles: officer, operator, auditor."""
    return [AuthorityOut.of(a, ctx.urls) for a in authority_service.list_authorities(ctx)]


@router.post("/v2g", status_code=201, response_model=AuthorityOut, responses={
    200: {"model": AuthorityOut, "description": "The V2G sub-CA existed already; nothing changed."},
    **errors.responses(401, 403, 503)})
def create_v2g_ca(principal: OfficerOnly, ctx: Ctx, response: Response) -> AuthorityOut:
    """Set up the V2G (ISO 15118) sub-CA under the active root, which signs SECC certificates
    (SignCertificate with certificateType V2GCertificate). 201 when created; 200 with the
    existing one when it is there already. Audited (ca.v2g.create). Roles: officer."""
    made = authority_service.create_v2g_ca(ctx, principal.actor)
    if not made.created:
        response.status_code = 200
    return AuthorityOut.of(made.authority, ctx.urls)


@router.get("/root.pem", response_class=Response, responses={
    200: {"content": {PEM_TYPE: {"schema": {"type": "string"}}}, "description": "The active root certificate."},
    **errors.responses(401, 403, 503)})
def root_certificate(_principal: AnyRole, ctx: Ctx) -> Response:
    """The active root CA certificate (PEM): the trust anchor stations install as
    CSMSRootCertificate. Roles: officer, operator, auditor."""
    pem = run_in_session(ctx, lambda s: active_authority(s, CaRole.ROOT).record.certificate_pem)
    return Response(pem, media_type=PEM_TYPE)
