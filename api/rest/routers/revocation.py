"""Public revocation data: CRLs and OCSP. No token - relying parties have none.

The paths are those pki.profiles.PublicUrls writes into certificates (CRL distribution point
and OCSP AIA): ``<base_url>/crl/<ca_id>.crl`` and ``<base_url>/ocsp``.
"""

from __future__ import annotations

import base64
import binascii
import logging

from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from api.core.audit import run_in_session
from api.core.context import Context
from api.csms.security.authority_service import crl_der
from api.rest import errors
from api.rest.auth import Ctx
from api.rest.errors import ApiError
from pki import revocation
from pki.keystore import KeyStoreError
from storage.db import DatabaseUnavailable

log = logging.getLogger("chargeca.rest")

router = APIRouter(tags=["revocation (public)"])

CRL_TYPE = "application/pkix-crl"
OCSP_REQUEST_TYPE = "application/ocsp-request"
OCSP_RESPONSE_TYPE = "application/ocsp-response"
# A one-certificate request is ~100 bytes, a signed one with certificates a few KiB.
OCSP_REQUEST_MAX = 8 * 1024

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_OCSP_ANSWERS = {
    200: {"content": {OCSP_RESPONSE_TYPE: _BINARY},
          "description": "An OCSP response: successful, or malformedRequest / unauthorized (not our CA)."},
    503: {"content": {OCSP_RESPONSE_TYPE: _BINARY},
          "description": "Database or CA key unavailable: an OCSP tryLater response, which OCSP clients "
                         "understand."},
}
_TRY_LATER = ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER).public_bytes(Encoding.DER)


@router.get("/crl/{ca_id}.crl", response_class=Response,
            responses={200: {"content": {CRL_TYPE: _BINARY}, "description": "The CA's current CRL (DER)."},
                       **errors.responses(404, 503)})
def get_crl(ca_id: str, ctx: Ctx) -> Response:
    """The current CRL of a CA (DER). Public. Re-signed when a revocation made it stale."""
    return Response(crl_der(ctx, ca_id), media_type=CRL_TYPE)


@router.post("/ocsp", response_class=Response, responses={**_OCSP_ANSWERS, **errors.responses(413, 415)},
             openapi_extra={"requestBody": {"required": True, "content": {OCSP_REQUEST_TYPE: _BINARY}}})
async def ocsp_post(request: Request, ctx: Ctx) -> Response:
    """OCSP over HTTP POST (RFC 6960 appendix A.1): a DER OCSPRequest body. Public.

    Bodies over 8 KiB answer 413; another content type than application/ocsp-request 415.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type != OCSP_REQUEST_TYPE:
        raise ApiError(415, f"OCSP requests must be sent as {OCSP_REQUEST_TYPE}, not {content_type}")
    request_der = await request.body()
    return await run_in_threadpool(_answer, ctx, request_der)


@router.get("/ocsp/{encoded:path}", response_class=Response, responses={**_OCSP_ANSWERS, **errors.responses(400, 413)})
def ocsp_get(encoded: str, ctx: Ctx) -> Response:
    """OCSP over HTTP GET (RFC 6960 appendix A.1): the URL-encoded base64 of a DER OCSPRequest. Public."""
    return _answer(ctx, _decode_get_request(encoded))


def _decode_get_request(encoded: str) -> bytes:
    # The path arrives percent-decoded; '/' is a base64 character, hence the path converter.
    if len(encoded) > OCSP_REQUEST_MAX * 4 // 3 + 4:
        raise ApiError(413, f"OCSP request larger than {OCSP_REQUEST_MAX} bytes")
    text = encoded.strip().translate(str.maketrans("-_", "+/"))  # tolerate the URL-safe alphabet too
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, "the OCSP GET request is not base64 (RFC 6960 appendix A.1)", field="path") from exc


def _answer(ctx: Context, request_der: bytes) -> Response:
    try:
        response_der = run_in_session(
            ctx, lambda s: revocation.ocsp_response(s, ctx.keystore, request_der, ctx.policy))
    except DatabaseUnavailable:
        return _try_later()
    except KeyStoreError as exc:
        # The relying party understands tryLater, not a JSON error; the officer reads the log.
        log.error("OCSP request not answered, the CA key store failed: %s", exc)
        return _try_later()
    return Response(response_der, media_type=OCSP_RESPONSE_TYPE)


def _try_later() -> Response:
    return Response(_TRY_LATER, status_code=503, media_type=OCSP_RESPONSE_TYPE, headers={"Retry-After": "5"})
