"""TLS handshakes OpenSSL refuses before admission ever sees the connection: an old protocol
version, no shared suite, a client certificate that does not verify (unknown issuer,
self-signed, expired, not yet valid). asyncio drops these silently; here each becomes a
refusal for the aggregated refusal log (api/ocpp/admission/refusal_log.py), keyed by source address.

How: the listening ``SSLContext`` creates its per-connection ``SSLObject`` through
``sslobject_class`` (documented as overridable); this subclass reports a failed
``do_handshake`` with the peer that ``accept`` put into the context of the connection's task
(api/ocpp/transport/connection_limits.py ``accepted_peer``).

Client-certificate verdicts use the rule names of api/ocpp/admission/client_certificates.py
(``sp3.expired``, ``sp3.not_yet_valid``, ``sp3.chain``): an operator filters one rule whichever
layer refused. Why OpenSSL keeps verifying rather than deferring to admission: Python's ssl
cannot install a verify callback, so requesting a certificate without verifying it is
impossible (CERT_OPTIONAL still fails the handshake on a bad one) — and verifying in OpenSSL is
what keeps an unknown issuer from reaching the HTTP layer at all.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

from api.ocpp.admission.filters import INVALID_STATION_CERTIFICATE
from api.ocpp.admission.refusal_log import RefusalRecord
from api.ocpp.transport.connection_limits import accepted_peer

INVALID_TLS_VERSION = "InvalidTLSVersion"            # OCPP's security-event names for the
INVALID_TLS_CIPHER_SUITE = "InvalidTLSCipherSuite"   # same situations on the station side
TLS_HANDSHAKE_FAILED = "TlsHandshakeFailed"

# X509_V_ERR_* codes (openssl/x509_vfy.h) that have a rule of their own.
_CERT_NOT_YET_VALID, _CERT_HAS_EXPIRED = 9, 10

_VERSION_REASONS = {"UNSUPPORTED_PROTOCOL", "WRONG_VERSION_NUMBER", "NO_PROTOCOLS_AVAILABLE",
                    "TLSV1_ALERT_PROTOCOL_VERSION", "VERSION_TOO_LOW"}
_CIPHER_REASONS = {"NO_SHARED_CIPHER", "NO_CIPHERS_AVAILABLE", "NO_SUITABLE_SIGNATURE_ALGORITHM"}


def classify(exc: ssl.SSLError) -> RefusalRecord:
    """The refusal a failed server-side handshake stands for."""
    reason = getattr(exc, "reason", None) or ""
    detail = (getattr(exc, "verify_message", None) or reason or str(exc))[:120]
    if isinstance(exc, ssl.SSLCertVerificationError) or reason == "CERTIFICATE_VERIFY_FAILED":
        code = getattr(exc, "verify_code", None)
        if code == _CERT_HAS_EXPIRED:
            rule = "sp3.expired"
        elif code == _CERT_NOT_YET_VALID:
            rule = "sp3.not_yet_valid"
        else:
            rule = "sp3.chain"
        return RefusalRecord(INVALID_STATION_CERTIFICATE, rule, f"TLS: client certificate refused ({detail})")
    if reason in _VERSION_REASONS:
        return RefusalRecord(INVALID_TLS_VERSION, "tls.version", f"TLS: protocol version refused ({detail})")
    if reason in _CIPHER_REASONS:
        return RefusalRecord(INVALID_TLS_CIPHER_SUITE, "tls.cipher", f"TLS: no cipher suite in common ({detail})")
    return RefusalRecord(TLS_HANDSHAKE_FAILED, "tls.handshake", f"TLS handshake failed ({detail})")


def watch_handshakes(context: ssl.SSLContext, report: Callable[[tuple, RefusalRecord], None]) -> None:
    """Make ``context`` report each failed server handshake as ``report(peer, refusal)``."""

    class WatchedSSLObject(ssl.SSLObject):
        def do_handshake(self) -> None:
            try:
                super().do_handshake()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                raise
            except ssl.SSLError as exc:
                peer = accepted_peer.get()
                if peer is not None:
                    report(peer, classify(exc))
                raise

    context.sslobject_class = WatchedSSLObject
