"""Issued certificates: signing station CSRs, looking certificates up, revoking them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import select

from api.core.audit import run_in_session
from api.csms.security import authority_service
from api.csms.security.authority_service import sign_csr
from api.rest import errors
from api.rest.auth import AnyRole, Ctx, OfficerOnly, StationOps
from api.rest.numbers import Offset
from api.rest.schemas import (
    CertificateDetail,
    CertificateSummary,
    CertKindName,
    CertStatusName,
    CsrSubmission,
    IssuedChainOut,
    RevokeRequest,
)
from pki import revocation
from storage.certificates import IssuedCertificate
from storage.filters import where_given

router = APIRouter(prefix="/api/v1", tags=["certificates"])



@router.post("/stations/{station_id}/certificates", status_code=201, response_model=IssuedChainOut,
             responses=errors.responses(401, 403, 404, 413, 415, 422, 503))
def sign_station_csr(station_id: str, body: CsrSubmission, principal: StationOps, ctx: Ctx) -> IssuedChainOut:
    """Sign a station's CSR with the station CA. Roles: officer, operator.

    Only the CSR's public key is used: subject (CN = station, O = the CSO) and extensions come
    from the CA's profile; extension requests are listed in `ignored_csr_extensions`.
    A refused CSR answers 422 with `rule` naming the policy rule (e.g. csr.subject.cn,
    csr.key_reuse); an unregistered station 404. Both outcomes are audited.
    """
    return IssuedChainOut.of(sign_csr(ctx, principal.actor, station_id, body.csr))


@router.get("/certificates", response_model=list[CertificateSummary], responses=errors.responses(401, 403, 503))
def list_certificates(_principal: AnyRole, ctx: Ctx, station_id: str | None = None,
                      kind: CertKindName | None = None, status: CertStatusName | None = None,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                      offset: Offset = 0) -> list[CertificateSummary]:
    """Certificates the CAs issued (CA certificates included), newest first. Roles: all."""
    query = where_given(select(IssuedCertificate), (IssuedCertificate.station_id, station_id),
                        (IssuedCertificate.kind, kind), (IssuedCertificate.status, status))
    query = query.order_by(IssuedCertificate.id.desc()).offset(offset).limit(limit)
    return run_in_session(ctx, lambda s: [CertificateSummary.of(r) for r in s.exec(query)])


@router.get("/certificates/{serial}", response_model=CertificateDetail,
            responses=errors.responses(401, 403, 404, 422, 503))
def get_certificate(serial: str, _principal: AnyRole, ctx: Ctx, issuer_id: str | None = None) -> CertificateDetail:
    """One certificate by serial (hex, any case): PEM, parsed names, status, revocation. Roles: all."""
    return CertificateDetail.of(run_in_session(ctx, lambda s: revocation.find_certificate(s, serial, issuer_id)))


@router.post("/certificates/{serial}/revoke", response_model=CertificateDetail,
             responses=errors.responses(401, 403, 404, 409, 415, 422, 503))
def revoke_certificate(serial: str, body: RevokeRequest, principal: OfficerOnly, ctx: Ctx) -> CertificateDetail:
    """Revoke a certificate. Role: officer.

    The next CRL of its issuer lists it and OCSP answers revoked at once. 422 for an unknown
    `reason` (`valid_reasons` lists them), 409 if it is revoked already, 404 for an unknown
    serial. Refusals are audited like successes.
    """
    return CertificateDetail.of(authority_service.revoke_certificate(ctx, principal.actor, serial, body.reason,
                                                                     body.issuer_id))
