"""policies/tls.py: the [tls] policy check and the wss server context, with real handshakes
(OpenSSL on both ends, over memory BIOs) against certificates made here."""

from __future__ import annotations

import datetime
import ssl
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from policies.loader import load_policy
from policies.refusal import Refusal
from policies.tls import (
    MANDATORY_TLS12_SUITES,
    TlsPolicyError,
    check_tls_policy,
    effective_tls12_suites,
    effective_tls13_suites,
    server_context,
)

pytestmark = pytest.mark.fast

POLICY = load_policy(None).tls
HOST = "csms.example"


@cache
def _self_signed(family: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1()) if family == "ec" else rsa.generate_private_key(65537, 2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
                   .sign(key, hashes.SHA256()))
    return (certificate.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.BestAvailableEncryption(b"key-password")))


def _files(tmp_path: Path, *families: str) -> list[tuple[Path, Path, bytes]]:
    files = []
    for family in families:
        cert, key = _self_signed(family)
        (tmp_path / f"{family}.pem").write_bytes(cert)
        (tmp_path / f"{family}.key").write_bytes(key)
        files.append((tmp_path / f"{family}.pem", tmp_path / f"{family}.key", b"key-password"))
    return files


def _client(ciphers: str | None = None, maximum: ssl.TLSVersion | None = None,
            minimum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE  # these tests are about the server's offer, not trust
    if ciphers:
        client.set_ciphers(ciphers)
    if minimum:
        client.minimum_version = minimum
    if maximum:
        client.maximum_version = maximum
    return client


def _connected(server: ssl.SSLContext, client: ssl.SSLContext) -> ssl.SSLObject:
    """The client end of a complete TLS handshake between two OpenSSL endpoints, once it has read
    what the server sent after the handshake (TLS 1.3 session tickets)."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client_side = client.wrap_bio(c_in, c_out, server_hostname=HOST)
    server_side = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, end, outgoing, peer_in in (("client", client_side, c_out, s_in),
                                             ("server", server_side, s_out, c_in)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
            peer_in.write(outgoing.read())
        if all(done.values()):
            try:
                client_side.read()
            except ssl.SSLWantReadError:
                pass
            return client_side
    raise AssertionError("handshake did not finish")


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> tuple[str, str, x509.Certificate]:
    """(version, suite, server cert) of a complete handshake."""
    client_side = _connected(server, client)
    certificate = x509.load_der_x509_certificate(client_side.getpeercert(binary_form=True))
    return client_side.version(), client_side.cipher()[0], certificate


# --- check_tls_policy -------------------------------------------------------------------------


def test_the_shipped_policy_is_accepted():
    assert check_tls_policy(POLICY).allowed


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1.1", "SSLv3"])
def test_a_policy_below_tls12_is_refused(version):
    decision = check_tls_policy(replace(POLICY, min_version=version))
    assert decision.rule == "tls.version_too_low"
    assert "TLS 1.2" in decision.reason


def test_unknown_version_names_are_refused():
    decision = check_tls_policy(replace(POLICY, max_version="TLSv1.4"))
    assert decision.rule == "tls.version_unknown" and "TLSv1.4" in decision.reason


def test_tls13_only_is_refused_because_ocpp_suites_are_tls12():
    decision = check_tls_policy(replace(POLICY, min_version="TLSv1.3"))
    assert decision.rule == "tls.tls12_required"


def test_min_above_max_is_refused():
    decision = check_tls_policy(replace(POLICY, min_version="TLSv1.3", max_version="TLSv1.2"))
    assert decision.rule == "tls.version_order"


@pytest.mark.parametrize("name, words", [
    ("NOT-A-SUITE", "not a cipher suite name"),
    ("TLS_AES_128_GCM_SHA256", "tls13_ciphersuites"),
    ("PSK-AES128-GCM-SHA256", "authentication"),
    ("DHE-RSA-AES128-GCM-SHA256", "key exchange"),
    ("ECDHE-RSA-AES128-SHA", "unsuitable"),
])
def test_bad_suite_names_are_refused_with_the_reason(name, words):
    decision = check_tls_policy(replace(POLICY, tls12_ciphers=POLICY.tls12_ciphers + (name,)))
    assert decision.rule == "tls.cipher"
    assert name in decision.reason and words in decision.reason


def test_dropping_a_mandatory_suite_is_refused():
    decision = check_tls_policy(replace(POLICY, tls12_ciphers=POLICY.tls12_ciphers[:3]))
    assert decision.rule == "tls.mandatory_suites" and "AES256-GCM-SHA384" in decision.reason


def test_extra_strong_suites_are_allowed():
    extra = POLICY.tls12_ciphers + ("ECDHE-RSA-AES128-GCM-SHA256",)
    assert check_tls_policy(replace(POLICY, tls12_ciphers=extra)).allowed


def test_unknown_tls13_suite_is_refused():
    decision = check_tls_policy(replace(POLICY, tls13_ciphersuites=("TLS_AES_512_GCM_SHA999",)))
    assert decision.rule == "tls.cipher13"


# --- server_context -----------------------------------------------------------------------------


def test_context_applies_versions_options_and_exact_suites(tmp_path):
    context = server_context(POLICY, _files(tmp_path, "ec", "rsa"), None)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.options & ssl.OP_NO_COMPRESSION
    assert context.options & ssl.OP_CIPHER_SERVER_PREFERENCE
    assert effective_tls12_suites(context) == POLICY.tls12_ciphers
    assert context.verify_mode == ssl.CERT_NONE


def test_a_refused_policy_builds_no_context(tmp_path):
    with pytest.raises(TlsPolicyError) as refused:
        server_context(replace(POLICY, min_version="TLSv1.1"), _files(tmp_path, "ec"), None)
    # A refusal like any other (policies/refusal.py): each door prints its rule and reason.
    assert isinstance(refused.value, Refusal) and refused.value.rule == "tls.version_too_low"
    assert "TLSv1.1" in refused.value.reason


def test_client_certificates_are_optional_when_a_client_ca_is_given(tmp_path):
    ca_pem = _self_signed("ec")[0].decode()
    context = server_context(POLICY, _files(tmp_path, "ec", "rsa"), ca_pem)
    assert context.verify_mode == ssl.CERT_OPTIONAL
    # A client without a certificate (profile 2) still completes the handshake.
    version, _, _ = _handshake(context, _client())
    assert version in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("suite", MANDATORY_TLS12_SUITES)
def test_each_mandatory_suite_is_negotiable_with_both_certificates_loaded(tmp_path, suite):
    context = server_context(POLICY, _files(tmp_path, "ec", "rsa"), None)
    version, negotiated, certificate = _handshake(context, _client(suite, maximum=ssl.TLSVersion.TLSv1_2))
    assert (version, negotiated) == ("TLSv1.2", suite)
    expected_key = ec.EllipticCurvePublicKey if "ECDSA" in suite else rsa.RSAPublicKey
    assert isinstance(certificate.public_key(), expected_key)


def test_with_only_one_certificate_the_other_family_fails(tmp_path):
    context = server_context(POLICY, _files(tmp_path, "ec"), None)
    with pytest.raises(ssl.SSLError):
        _handshake(context, _client("AES128-GCM-SHA256", maximum=ssl.TLSVersion.TLSv1_2))


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1")  # the old versions are the point
def test_old_clients_are_refused_at_the_handshake(tmp_path):
    context = server_context(POLICY, _files(tmp_path, "ec", "rsa"), None)
    old = _client("DEFAULT:@SECLEVEL=0", minimum=ssl.TLSVersion.TLSv1, maximum=ssl.TLSVersion.TLSv1_1)
    with pytest.raises(ssl.SSLError):
        _handshake(context, old)


def test_max_version_tls12_disables_tls13(tmp_path):
    context = server_context(replace(POLICY, max_version="TLSv1.2"), _files(tmp_path, "ec", "rsa"), None)
    assert effective_tls13_suites(context) == ()
    version, _, _ = _handshake(context, _client())
    assert version == "TLSv1.2"


def test_tls13_negotiates_when_allowed(tmp_path):
    context = server_context(POLICY, _files(tmp_path, "ec", "rsa"), None)
    version, suite, _ = _handshake(context, _client())
    assert version == "TLSv1.3"
    assert suite in effective_tls13_suites(context)


def test_tls13_suites_are_exactly_the_policys_when_enforceable():
    import ssl

    from policies.tls import effective_tls13_suites
    from policies.tls13 import set_tls13_ciphersuites

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if not set_tls13_ciphersuites(context, ["TLS_AES_256_GCM_SHA384"]):
        pytest.skip("this interpreter gives no safe access to SSL_CTX_set_ciphersuites")
    assert effective_tls13_suites(context) == ("TLS_AES_256_GCM_SHA384",)
    with pytest.raises(ValueError, match="refused"):
        set_tls13_ciphersuites(context, ["TLS_NOT_A_SUITE"])


def _ticket_after_handshake(context: ssl.SSLContext, client: ssl.SSLContext) -> bool:
    """Whether a client that completes a handshake with ``context`` holds a resumable ticket."""
    session = _connected(context, client).session
    return session is not None and session.has_ticket


@pytest.mark.parametrize("maximum", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_no_session_tickets_by_default(tmp_path, maximum):
    context = server_context(POLICY, _files(tmp_path, "ec", "rsa"), None)
    assert POLICY.session_tickets == 0
    assert not _ticket_after_handshake(context, _client(maximum=maximum))


@pytest.mark.parametrize("maximum", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_session_tickets_when_the_policy_asks(tmp_path, maximum):
    context = server_context(replace(POLICY, session_tickets=1), _files(tmp_path, "ec", "rsa"), None)
    assert _ticket_after_handshake(context, _client(maximum=maximum))


@pytest.mark.parametrize("tickets", [-1, 5])
def test_session_tickets_out_of_range_are_refused(tickets):
    decision = check_tls_policy(replace(POLICY, session_tickets=tickets))
    assert decision.rule == "tls.session_tickets" and "0 to 4" in decision.reason
