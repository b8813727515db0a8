"""TLS for the OCPP wss listener: check the [tls] policy, and build the server context from it.

Pure functions: no database, no files of our own. The caller hands in certificate files.

TLS 1.3 suites: Python's ``ssl`` (up to 3.13) has no binding for OpenSSL's
``SSL_CTX_set_ciphersuites``; policies/tls13.py applies them through OpenSSL directly and the
context built here is checked to accept exactly the policy's suites. Where that is impossible
(another interpreter), ``tls13_suites_enforceable()`` is False, OpenSSL's defaults stay in effect
and the gateway logs the difference at start-up. The OCPP-mandated suites are all TLS 1.2 suites
and are set exactly.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from policies.model import Decision, TlsPolicy
from policies.refusal import Refusal
from policies.tls13 import set_tls13_ciphersuites

# A00.FR.318 / A00.FR.421: every CSMS offers these four (OpenSSL names).
MANDATORY_TLS12_SUITES = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
)

_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
# Recognised so that the refusal can say "too old" rather than "unknown".
_OLD_VERSIONS = {"SSLv2", "SSLv3", "TLSv1", "TLSv1.0", "TLSv1.1"}

TLS13_SUITES = frozenset({
    "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256",
})

# The listener holds only RSA and ECDSA certificates; a suite that authenticates otherwise
# (PSK, SRP, anonymous) could never be negotiated. Finite-field DHE needs DH parameters we
# do not configure, so only ECDHE and RSA key transport are usable.
_USABLE_AUTH = {"auth-rsa", "auth-ecdsa"}
_USABLE_KEX = {"kx-ecdhe", "kx-rsa"}
# Non-AEAD suites are tolerated only with a SHA-2 HMAC (BSI TR-02102-2).
_CBC_DIGESTS = {"sha256", "sha384"}

# A station holds one connection at a time; more tickets than this only cost handshakes.
MAX_SESSION_TICKETS = 4

CertificateFiles = tuple[str | Path, str | Path, bytes | str | None]


class TlsPolicyError(Refusal):
    """The [tls] policy cannot be applied; ``decision`` says which rule and why."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.rule, decision.reason)
        self.decision = decision


@cache
def _tls12_catalogue() -> dict[str, dict]:
    """Every TLS <= 1.2 suite this OpenSSL knows, by OpenSSL name, with its properties."""
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    probe.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    return {c["name"]: c for c in probe.get_ciphers() if c["protocol"] != "TLSv1.3"}


def _version_problem(key: str, value: str) -> Decision | None:
    if value in _OLD_VERSIONS:
        return Decision.refuse("tls.version_too_low",
                               f"[tls].{key} = {value!r} allows less than TLS 1.2 (OCPP A00.FR.313)")
    if value not in _VERSIONS:
        return Decision.refuse("tls.version_unknown",
                               f"[tls].{key} = {value!r} is not one of {', '.join(_VERSIONS)}")
    return None


def _suite_problem(name: str) -> str | None:
    suite = _tls12_catalogue().get(name)
    if suite is None:
        if name in TLS13_SUITES:
            return f"{name} is a TLS 1.3 suite; list it in tls13_ciphersuites"
        return f"{name} is not a cipher suite name OpenSSL knows"
    if suite["auth"] not in _USABLE_AUTH:
        return f"{name} needs {suite['auth']} authentication; the server has only RSA and ECDSA certificates"
    if suite["kea"] not in _USABLE_KEX:
        return f"{name} uses {suite['kea']} key exchange; only ECDHE and RSA are configured"
    if not suite["aead"] and suite["digest"] not in _CBC_DIGESTS:
        return f"{name} uses {suite['symmetric']} with {suite['digest']}; BSI TR-02102 finds it unsuitable"
    return None


def check_tls_policy(policy: TlsPolicy) -> Decision:
    """Is this [tls] policy safe and OCPP-conformant? The first problem found, with its reason."""
    for key in ("min_version", "max_version"):
        problem = _version_problem(key, getattr(policy, key))
        if problem is not None:
            return problem
    if _VERSIONS[policy.min_version] > _VERSIONS[policy.max_version]:
        return Decision.refuse("tls.version_order",
                               f"min_version {policy.min_version} is above max_version {policy.max_version}")
    if policy.min_version != "TLSv1.2":
        # The four suites OCPP mandates exist only in TLS 1.2; stations without 1.3 must get in.
        return Decision.refuse("tls.tls12_required",
                               "min_version must be TLSv1.2: OCPP's mandatory suites (A00.FR.318) are TLS 1.2 suites")
    for name in policy.tls12_ciphers:
        problem = _suite_problem(name)
        if problem is not None:
            return Decision.refuse("tls.cipher", problem)
    if len(set(policy.tls12_ciphers)) != len(policy.tls12_ciphers):
        return Decision.refuse("tls.cipher_duplicate", "tls12_ciphers lists a suite twice")
    missing = [s for s in MANDATORY_TLS12_SUITES if s not in policy.tls12_ciphers]
    if missing:
        return Decision.refuse("tls.mandatory_suites",
                               f"tls12_ciphers lacks {', '.join(missing)}; OCPP A00.FR.318 requires all four")
    unknown13 = [s for s in policy.tls13_ciphersuites if s not in TLS13_SUITES]
    if unknown13:
        return Decision.refuse("tls.cipher13", f"{', '.join(unknown13)}: not TLS 1.3 suite names "
                                               f"(one of {', '.join(sorted(TLS13_SUITES))})")
    if policy.max_version == "TLSv1.3" and not policy.tls13_ciphersuites:
        return Decision.refuse("tls.cipher13", "TLS 1.3 is allowed but tls13_ciphersuites is empty")
    if not 0 <= policy.session_tickets <= MAX_SESSION_TICKETS:
        return Decision.refuse("tls.session_tickets",
                               f"session_tickets = {policy.session_tickets}; allowed: 0 to {MAX_SESSION_TICKETS}")
    return Decision.allow()


def tls13_suites_enforceable() -> bool:
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    return set_tls13_ciphersuites(probe, tuple(sorted(TLS13_SUITES))[:1])


def effective_tls13_suites(context: ssl.SSLContext) -> tuple[str, ...]:
    """The TLS 1.3 suites ``context`` accepts (none when its maximum version is TLS 1.2)."""
    if context.maximum_version not in (ssl.TLSVersion.MAXIMUM_SUPPORTED, ssl.TLSVersion.TLSv1_3):
        return ()
    return tuple(c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.3")


def effective_tls12_suites(context: ssl.SSLContext) -> tuple[str, ...]:
    return tuple(c["name"] for c in context.get_ciphers() if c["protocol"] != "TLSv1.3")


def server_context(policy: TlsPolicy, certs: Iterable[CertificateFiles],
                   client_ca_pem: str | None) -> ssl.SSLContext:
    """The wss listener's context.

    ``certs``: (chain file, key file, key password) for each server certificate; load one ECDSA
    and one RSA certificate, as the four mandatory suites need both (OpenSSL keeps one per key
    type and picks by the negotiated suite). ``client_ca_pem``: trust anchors for client
    certificates. Client certificates are requested but optional, so profile-2 stations (Basic
    auth, no certificate) and profile-3 stations (certificate) share one port; admission decides
    which profile a connection is and whether that is the station's profile.
    """
    decision = check_tls_policy(policy)
    if not decision:
        raise TlsPolicyError(decision)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[policy.min_version]
    context.maximum_version = _VERSIONS[policy.max_version]
    # No TLS compression (A00.FR.321, CRIME); our order of suites, not the client's;
    # no renegotiation (a cheap CPU-exhaustion lever for clients, and OCPP has no use for it).
    context.options |= (ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
                        | ssl.OP_NO_RENEGOTIATION)
    context.set_ciphers(":".join(policy.tls12_ciphers))
    # OpenSSL would issue two TLS 1.3 tickets per handshake (and one in TLS 1.2), each an
    # encryption and a write; the policy says how many are worth it (defaults.toml, [tls]).
    context.num_tickets = policy.session_tickets
    if policy.session_tickets == 0:
        context.options |= ssl.OP_NO_TICKET
    if policy.max_version == "TLSv1.3" and set_tls13_ciphersuites(context, policy.tls13_ciphersuites):
        effective = set(effective_tls13_suites(context))
        if effective != set(policy.tls13_ciphersuites):
            raise TlsPolicyError(Decision.refuse(
                "tls.cipher13", f"OpenSSL applied {sorted(effective)}, not the policy's TLS 1.3 suites"))
    loaded = 0
    for chain_file, key_file, password in certs:
        context.load_cert_chain(str(chain_file), str(key_file), password=password)
        loaded += 1
    if not loaded:
        raise ValueError("a TLS server context needs at least one server certificate")
    if client_ca_pem:
        context.load_verify_locations(cadata=client_ca_pem)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context
