"""RFC 6960 OCSP responder core: DER request in, DER response out, no transport.

Responses are signed by the issuing CA itself (RFC 6960 §4.2.2.2, first case), so no
delegated responder certificate exists and the response carries no certificates; the
client already holds the issuer as part of the chain it is checking.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from pki.hashdata import subject_name_der, subject_public_key_bits
from pki.lint import SigningKey, ensure_clean_ocsp_response, signature_hash_for

__all__ = ["CertStatus", "Issuer", "respond"]

Status = Literal["good", "revoked", "unknown"]

_CERT_STATUS: dict[str, ocsp.OCSPCertStatus] = {
    "good": ocsp.OCSPCertStatus.GOOD,
    "revoked": ocsp.OCSPCertStatus.REVOKED,
    "unknown": ocsp.OCSPCertStatus.UNKNOWN,
}

NONCE_MAX_OCTETS = 128

# SHA-1 must stay: OpenSSL and most station stacks build CertIDs with it by default.
_CERT_ID_HASHES: dict[str, str] = {
    hashes.SHA1.name: "sha1",
    hashes.SHA256.name: "sha256",
    hashes.SHA384.name: "sha384",
    hashes.SHA512.name: "sha512",
}


@dataclass(frozen=True)
class Issuer:
    """``key``, or ``load_key`` to fetch it only when this issuer answers: then a CA whose key is
    gone (a retired generation's, destroyed as the rollover says) stops its own answers only."""

    certificate: x509.Certificate
    key: SigningKey | None = None
    load_key: Callable[[], SigningKey] | None = None

    def signing_key(self) -> SigningKey:
        if self.key is not None:
            return self.key
        if self.load_key is None:
            raise ValueError(f"OCSP issuer {self.certificate.subject.rfc4514_string()!r} has no key")
        return self.load_key()


@dataclass(frozen=True)
class CertStatus:
    status: Status
    revoked_at: datetime.datetime | None = None
    reason: x509.ReasonFlags | None = None
    # Not needed to answer (the response echoes the request's CertID); kept so that
    # a lookup can hand back what it found for the caller's logging or auditing.
    certificate: x509.Certificate | None = None

    def __post_init__(self) -> None:
        if self.status not in _CERT_STATUS:
            raise ValueError(
                f"unknown certificate status {self.status!r}; "
                f"expected one of {', '.join(_CERT_STATUS)}"
            )
        if self.status == "revoked":
            if self.revoked_at is None:
                raise ValueError("a revoked status needs revoked_at")
            if self.revoked_at.tzinfo is None:
                raise ValueError("revoked_at must be timezone-aware")
        elif self.revoked_at is not None or self.reason is not None:
            raise ValueError(
                f"a {self.status!r} status cannot carry a revocation time or reason"
            )


Lookup = Callable[[Issuer, int], CertStatus]


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(Encoding.DER)


def _parse(request_der: bytes) -> ocsp.OCSPRequest | None:
    try:
        request = ocsp.load_der_ocsp_request(request_der)
        # cryptography reads the extensions on first use: a repeated one raises only here.
        nonce = _nonce(request)
    except (ValueError, x509.DuplicateExtension):
        return None
    except NotImplementedError:
        # cryptography cannot load a request with more than one CertID. RFC 6960 allows
        # them, but station stacks ask one certificate at a time, so such a request is
        # answered as malformed rather than partially.
        return None
    if request.serial_number < 0:
        # No certificate has one (RFC 5280 4.1.2.2), and cryptography cannot echo it in a response.
        return None
    if nonce is not None and not 1 <= len(nonce.nonce) <= NONCE_MAX_OCTETS:
        # RFC 9654 2.1, updating RFC 6960 4.4.1: such a request MUST be answered malformedRequest.
        return None
    return request


def _request_hash(request: ocsp.OCSPRequest) -> hashes.HashAlgorithm | None:
    try:
        algorithm = request.hash_algorithm
    except UnsupportedAlgorithm:
        return None
    return algorithm if algorithm.name in _CERT_ID_HASHES else None


def _issues(issuer: Issuer, request: ocsp.OCSPRequest, algorithm: hashes.HashAlgorithm) -> bool:
    hash_name = _CERT_ID_HASHES[algorithm.name]
    name_hash = hashlib.new(hash_name, subject_name_der(issuer.certificate)).digest()
    key_hash = hashlib.new(hash_name, subject_public_key_bits(issuer.certificate)).digest()
    return hmac.compare_digest(name_hash, request.issuer_name_hash) and hmac.compare_digest(
        key_hash, request.issuer_key_hash
    )


def _find_issuer(
    issuers: Sequence[Issuer], request: ocsp.OCSPRequest, algorithm: hashes.HashAlgorithm
) -> Issuer | None:
    return next((i for i in issuers if _issues(i, request, algorithm)), None)


def _nonce(request: ocsp.OCSPRequest) -> x509.OCSPNonce | None:
    try:
        return request.extensions.get_extension_for_class(x509.OCSPNonce).value
    except x509.ExtensionNotFound:
        return None


def respond(
    request_der: bytes,
    issuers: Sequence[Issuer],
    lookup: Lookup,
    *,
    now: datetime.datetime,
    validity: datetime.timedelta = datetime.timedelta(hours=1),
    lint: bool = False,
) -> bytes:
    """Answer one DER OCSPRequest with a DER OCSPResponse.

    * undecodable request, more than one CertID, a repeated extension, a negative serial, or
      a nonce of 0 or more than ``NONCE_MAX_OCTETS`` octets: ``malformedRequest``;
    * CertID hash algorithm other than SHA-1/SHA-2, or no issuer in ``issuers`` with
      that issuerNameHash and issuerKeyHash: ``unauthorized`` (we are not the responder
      for it, RFC 6960 §2.3);
    * otherwise ``successful``, with the status ``lookup(issuer, serial)`` gives, signed
      by that issuer, thisUpdate = now, nextUpdate = now + validity, and the request's
      nonce echoed (producedAt is cryptography's wall clock; it offers no override).

    Exceptions from ``lookup`` propagate, leaving the choice of ``internalError`` or
    ``tryLater`` to the transport.  With ``lint=True`` a response that fails RFC 6960
    linting raises pki.lint.LintError instead of being returned.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if validity <= datetime.timedelta(0):
        raise ValueError(f"validity must be positive, got {validity}")

    request = _parse(request_der)
    if request is None:
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    algorithm = _request_hash(request)
    issuer = None if algorithm is None else _find_issuer(issuers, request, algorithm)
    if issuer is None:
        return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)

    status = lookup(issuer, request.serial_number)
    # add_response_by_hash echoes the request's CertID, so serials we never issued
    # (no certificate object to pass to add_response) can still be answered "unknown",
    # and the client sees exactly the CertID it asked about.
    builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=request.issuer_name_hash,
        issuer_key_hash=request.issuer_key_hash,
        serial_number=request.serial_number,
        algorithm=algorithm,
        cert_status=_CERT_STATUS[status.status],
        this_update=now,
        next_update=now + validity,
        revocation_time=status.revoked_at,
        revocation_reason=status.reason if status.status == "revoked" else None,
    )
    builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, issuer.certificate)
    nonce = _nonce(request)
    if nonce is not None:
        builder = builder.add_extension(nonce, critical=False)

    key = issuer.signing_key()
    response = builder.sign(key, signature_hash_for(key))
    der = response.public_bytes(Encoding.DER)
    if lint:
        ensure_clean_ocsp_response(der)
    return der
