import datetime
import pathlib
from dataclasses import dataclass

import pki_fixtures as fx
import pytest
from asn1crypto import ocsp as asn1_ocsp
from conftest import both_keystores
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp

from pki.lint import errors, lint_ocsp_response
from pki.ocsp import CertStatus, Issuer, respond

pytestmark = pytest.mark.skipif(fx.OPENSSL is None, reason="openssl command line not installed")

REVOKED_AT = fx.NOW - datetime.timedelta(days=2)


@dataclass
class Files:
    directory: pathlib.Path
    root: pathlib.Path
    sub_ca: pathlib.Path
    leaf: pathlib.Path

    def path(self, name: str) -> pathlib.Path:
        return self.directory / name


keystore_kind = both_keystores()


@pytest.fixture(params=["ec", "rsa"])
def kind(request) -> fx.KeyKind:
    return request.param


@pytest.fixture
def h(kind, ca_hierarchy) -> fx.Hierarchy:
    return ca_hierarchy(kind)


@pytest.fixture
def files(tmp_path, h) -> Files:
    return Files(
        tmp_path,
        fx.write_pem(tmp_path, "root.pem", h.root.certificate),
        fx.write_pem(tmp_path, "sub.pem", h.sub_ca.certificate),
        fx.write_pem(tmp_path, "leaf.pem", h.leaf.certificate),
    )


def issuers_of(h: fx.Hierarchy) -> list[Issuer]:
    return [Issuer(h.root.certificate, h.root.key), Issuer(h.sub_ca.certificate, h.sub_ca.key)]


def openssl_request(files: Files, *options: str, issuer=None, cert=None, name="req.der") -> bytes:
    """A request built by the openssl client (with its default nonce unless -no_nonce)."""
    out = files.path(name)
    result = fx.openssl(
        "ocsp", "-issuer", issuer or files.sub_ca, *options, "-cert", cert or files.leaf, "-reqout", out
    )
    assert result.returncode == 0, result.stderr
    return out.read_bytes()


def openssl_check(
    files: Files, response: bytes, *trust: str | pathlib.Path, issuer=None, cert=None, digest: str = "-sha1"
):
    path = files.path("resp.der")
    path.write_bytes(response)
    # With -cert, openssl rebuilds a request to look the status up by, so it needs the
    # CertID digest again, and -no_nonce because that request's nonce is new; nonce
    # echoing has its own test using -reqin.
    return fx.openssl(
        "ocsp", "-respin", path, "-issuer", issuer or files.sub_ca, digest, "-cert", cert or files.leaf,
        "-no_nonce", *(trust or ("-VAfile", files.sub_ca)),
    )


def fixed(status: CertStatus, calls: list | None = None):
    def lookup(issuer: Issuer, serial: int) -> CertStatus:
        if calls is not None:
            calls.append((issuer, serial))
        return status

    return lookup


def test_good_status_verifies_with_openssl(h, files):
    calls: list = []
    request = openssl_request(files)

    response = respond(request, issuers_of(h), fixed(CertStatus("good"), calls), now=fx.NOW)
    result = openssl_check(files, response)

    assert result.returncode == 0, result.stderr
    assert "Response verify OK" in result.stderr
    assert f"{files.leaf}: good" in result.stdout
    assert calls == [(issuers_of(h)[1], h.leaf.certificate.serial_number)]


def test_revoked_status_and_reason_reach_openssl(h, files):
    status = CertStatus("revoked", revoked_at=REVOKED_AT, reason=x509.ReasonFlags.key_compromise)

    response = respond(openssl_request(files), issuers_of(h), fixed(status), now=fx.NOW)
    result = openssl_check(files, response)

    assert result.returncode == 0, result.stderr
    assert f"{files.leaf}: revoked" in result.stdout
    assert "Reason: keyCompromise" in result.stdout
    assert f"Revocation Time: {REVOKED_AT:%b %e %H:%M:%S %Y} GMT" in result.stdout


def test_unknown_serial_is_answered_unknown(h, files):
    # A certificate we never issued: same issuer, serial absent from our records.
    stranger = fx.make_leaf(h.sub_ca, "ec", serial=0x7E57)
    stranger_pem = fx.write_pem(files.directory, "stranger.pem", stranger.certificate)

    response = respond(
        openssl_request(files, cert=stranger_pem), issuers_of(h), fixed(CertStatus("unknown")), now=fx.NOW
    )
    result = openssl_check(files, response, cert=stranger_pem)

    assert result.returncode == 0, result.stderr
    assert f"{stranger_pem}: unknown" in result.stdout


def test_response_chains_to_the_root_for_openssl(h, files):
    response = respond(openssl_request(files), issuers_of(h), fixed(CertStatus("good")), now=fx.NOW)

    result = openssl_check(files, response, "-CAfile", files.root, "-verify_other", files.sub_ca)

    assert result.returncode == 0, result.stderr
    assert f"{files.leaf}: good" in result.stdout


def test_each_certificate_is_answered_by_its_own_issuer(h, files):
    # The sub-CA certificate is issued by the root: the root must sign that answer.
    request = openssl_request(files, issuer=files.root, cert=files.sub_ca)

    response = respond(request, issuers_of(h), fixed(CertStatus("good")), now=fx.NOW)

    result = openssl_check(files, response, "-VAfile", files.root, issuer=files.root, cert=files.sub_ca)
    assert result.returncode == 0, result.stderr
    assert f"{files.sub_ca}: good" in result.stdout
    parsed = ocsp.load_der_ocsp_response(response)
    root_ski = h.root.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert parsed.responder_key_hash == root_ski.digest


@pytest.mark.parametrize("digest", ["-sha1", "-sha256", "-sha384", "-sha512"])
def test_cert_id_hash_algorithms(h, files, digest):
    response = respond(openssl_request(files, digest), issuers_of(h), fixed(CertStatus("good")), now=fx.NOW)

    result = openssl_check(files, response, digest=digest)

    assert result.returncode == 0, result.stderr
    assert f"{files.leaf}: good" in result.stdout
    assert ocsp.load_der_ocsp_response(response).hash_algorithm.name == digest[1:]


def test_unsupported_cert_id_hash_is_unauthorized(h, files):
    response = respond(openssl_request(files, "-sha224"), issuers_of(h), fixed(CertStatus("good")), now=fx.NOW)

    assert ocsp.load_der_ocsp_response(response).response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED


def test_unknown_issuer_is_unauthorized(h, files, kind):
    other = fx.hierarchy("rsa" if kind == "ec" else "ec")
    request = openssl_request(files)

    response = respond(request, issuers_of(other), fixed(CertStatus("good")), now=fx.NOW)
    result = openssl_check(files, response)

    assert "Responder Error: unauthorized (6)" in result.stdout + result.stderr
    assert ocsp.load_der_ocsp_response(response).response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED


def test_same_name_different_key_is_unauthorized(h, files):
    # A re-keyed CA keeps its name; the key hash alone must tell the two apart.
    twin_key = fx.new_key("ec")
    twin = fx.ca_builder(
        h.sub_ca.certificate.subject, h.root.certificate.subject, twin_key, h.root.key, serial=0x7771, path_length=0
    ).sign(h.root.key, hashes.SHA256())

    response = respond(openssl_request(files), [Issuer(twin, twin_key)], fixed(CertStatus("good")), now=fx.NOW)

    assert ocsp.load_der_ocsp_response(response).response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED


@pytest.mark.parametrize("garbage", [b"", b"garbage", b"\x30\x03\x02\x01\x01"])
def test_garbage_is_malformed_request(h, files, garbage):
    response = respond(garbage, issuers_of(h), fixed(CertStatus("good")), now=fx.NOW)
    result = openssl_check(files, response)

    assert "Responder Error: malformedrequest (1)" in result.stdout + result.stderr
    assert ocsp.load_der_ocsp_response(response).response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_request_for_two_certificates_is_malformed(h, files):
    # cryptography only parses single-CertID requests; stations send one at a time.
    path = files.path("two.der")
    result = fx.openssl(
        "ocsp", "-issuer", files.sub_ca, "-cert", files.leaf, "-issuer", files.root, "-cert", files.sub_ca,
        "-reqout", path,
    )
    assert result.returncode == 0, result.stderr

    response = respond(path.read_bytes(), issuers_of(h), fixed(CertStatus("good")), now=fx.NOW)

    assert ocsp.load_der_ocsp_response(response).response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def crafted_request(h: fx.Hierarchy, *, serial: int | None = None, nonces: tuple[bytes, ...] = ()) -> bytes:
    """A request for the leaf that cryptography's builder refuses to make (a negative serial, a
    repeated extension, a nonce of any length), built with asn1crypto."""
    cert_id = ocsp.OCSPRequestBuilder().add_certificate(h.leaf.certificate, h.sub_ca.certificate, hashes.SHA1()).build()
    extensions = [{"extn_id": "nonce", "critical": False, "extn_value": nonce} for nonce in nonces]
    return asn1_ocsp.OCSPRequest({"tbs_request": {
        "request_list": [{"req_cert": {
            "hash_algorithm": {"algorithm": "sha1"},
            "issuer_name_hash": cert_id.issuer_name_hash,
            "issuer_key_hash": cert_id.issuer_key_hash,
            "serial_number": h.leaf.certificate.serial_number if serial is None else serial,
        }}],
        **({"request_extensions": extensions} if extensions else {}),
    }}).dump()


def response_status(h: fx.Hierarchy, request: bytes) -> ocsp.OCSPResponseStatus:
    return ocsp.load_der_ocsp_response(respond(request, issuers_of(h), fixed(CertStatus("good")), now=fx.NOW)) \
        .response_status


def test_a_negative_serial_is_malformed_request(h):
    # No certificate has one (RFC 5280 4.1.2.2), and a response could not echo it: this raised.
    assert response_status(h, crafted_request(h, serial=-5)) is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_a_repeated_extension_is_malformed_request(h):
    # cryptography finds the repetition only when the extensions are read: this raised.
    request = crafted_request(h, nonces=(b"n" * 16, b"n" * 16))
    assert response_status(h, request) is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


@pytest.mark.parametrize("octets", [0, 129, 7000])
def test_a_nonce_of_no_octet_or_over_128_is_malformed_request(h, octets):
    # RFC 9654 2.1 (updating RFC 6960 4.4.1): MUST be rejected with malformedRequest, not echoed.
    assert response_status(h, crafted_request(h, nonces=(b"n" * octets,))) is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


@pytest.mark.parametrize("octets", [1, 32, 128])
def test_a_nonce_of_1_to_128_octets_is_echoed(h, octets):
    response = ocsp.load_der_ocsp_response(
        respond(crafted_request(h, nonces=(b"n" * octets,)), issuers_of(h), fixed(CertStatus("good")), now=fx.NOW))

    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"n" * octets


def test_nonce_is_echoed_and_openssl_checks_it(h, files):
    request = openssl_request(files, name="req.der")
    other_request = openssl_request(files, name="other.der")
    response = respond(request, issuers_of(h), fixed(CertStatus("good")), now=fx.NOW)
    files.path("resp.der").write_bytes(response)

    matching = fx.openssl("ocsp", "-reqin", files.path("req.der"), "-respin", files.path("resp.der"), "-VAfile", files.sub_ca)
    mismatched = fx.openssl("ocsp", "-reqin", files.path("other.der"), "-respin", files.path("resp.der"), "-VAfile", files.sub_ca)

    assert matching.returncode == 0, matching.stderr
    assert "Nonce Verify error" not in matching.stdout + matching.stderr
    assert "Nonce Verify error" in mismatched.stdout + mismatched.stderr
    request_nonce = ocsp.load_der_ocsp_request(request).extensions.get_extension_for_class(x509.OCSPNonce)
    response_nonce = ocsp.load_der_ocsp_response(response).extensions.get_extension_for_class(x509.OCSPNonce)
    assert response_nonce.value.nonce == request_nonce.value.nonce
    assert other_request != request


def test_no_nonce_in_request_means_none_in_response(h, files):
    response = respond(openssl_request(files, "-no_nonce"), issuers_of(h), fixed(CertStatus("good")), now=fx.NOW)

    with pytest.raises(x509.ExtensionNotFound):
        ocsp.load_der_ocsp_response(response).extensions.get_extension_for_class(x509.OCSPNonce)


def test_times_and_responder_id(h, files):
    validity = datetime.timedelta(minutes=30)

    parsed = ocsp.load_der_ocsp_response(
        respond(openssl_request(files), issuers_of(h), fixed(CertStatus("good")), now=fx.NOW, validity=validity)
    )

    assert parsed.this_update_utc == fx.NOW
    assert parsed.next_update_utc == fx.NOW + validity
    ski = h.sub_ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert parsed.responder_key_hash == ski.digest  # our SKIs are method-1 SHA-1 key hashes
    assert parsed.certificates == []


def test_response_lints_clean(h, files):
    for status in (CertStatus("good"), CertStatus("unknown"), CertStatus("revoked", revoked_at=REVOKED_AT)):
        response = respond(openssl_request(files), issuers_of(h), fixed(status), now=fx.NOW, lint=True)

        assert errors(lint_ocsp_response(response)) == []


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"status": "revoked"}, "a revoked status needs revoked_at"),
        ({"status": "good", "revoked_at": REVOKED_AT}, "a 'good' status cannot carry"),
        ({"status": "unknown", "reason": x509.ReasonFlags.superseded}, "an? 'unknown' status cannot carry"),
        ({"status": "fine"}, "unknown certificate status 'fine'"),
        ({"status": "revoked", "revoked_at": REVOKED_AT.replace(tzinfo=None)}, "revoked_at must be timezone-aware"),
    ],
)
def test_cert_status_rejects_inconsistent_values(arguments, error):
    with pytest.raises(ValueError, match=error):
        CertStatus(**arguments)


def test_naive_now_is_refused(h, files):
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        respond(openssl_request(files), issuers_of(h), fixed(CertStatus("good")), now=fx.NOW.replace(tzinfo=None))
