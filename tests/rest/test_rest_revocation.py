"""Public revocation data over HTTP: CRLs and OCSP (POST and GET), without any token."""

from __future__ import annotations

import base64
from urllib.parse import quote, urlsplit

import pytest
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID
from csr_factory import make_csr
from rest_support import api, sqlite_api  # noqa: F401 - fixtures
from softhsm import TOKEN_PIN, destroy_key

from storage.audit import Outcome

OCSP_REQUEST = {"Content-Type": "application/ocsp-request"}


def _issue(api, station_id: str) -> x509.Certificate:
    api.register_station(station_id)
    answer = api.sign(station_id, make_csr(station_id, "Test CSO")[0])
    assert answer.status_code == 201, answer.text
    return x509.load_pem_x509_certificate(answer.json()["certificate_pem"].encode())


def _revoke(api, certificate: x509.Certificate, reason: str = "keyCompromise") -> None:
    answer = api.client.post(f"/api/v1/certificates/{certificate.serial_number:x}/revoke",
                             json={"reason": reason}, headers=api.headers("officer"))
    assert answer.status_code == 200, answer.text


def _path(url: str) -> str:
    return urlsplit(url).path


def _crl_path(certificate: x509.Certificate) -> str:
    points = certificate.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    return _path(points[0].full_name[0].value)


def _ocsp_path(certificate: x509.Certificate) -> str:
    access = certificate.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    return _path(next(d.access_location.value for d in access if d.access_method == AuthorityInformationAccessOID.OCSP))


def _crl(api, certificate: x509.Certificate) -> x509.CertificateRevocationList:
    answer = api.client.get(_crl_path(certificate))  # no token
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pkix-crl"
    crl = x509.load_der_x509_crl(answer.content)
    assert crl.is_signature_valid(api.pki.hierarchy.station_ca.certificate.public_key())
    return crl


def test_crl_lists_a_revoked_certificate(api):
    certificate = _issue(api, "CS-0200")
    assert _crl(api, certificate).get_revoked_certificate_by_serial_number(certificate.serial_number) is None

    _revoke(api, certificate)
    entry = _crl(api, certificate).get_revoked_certificate_by_serial_number(certificate.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise


def test_crl_of_an_unknown_ca_is_404_json(sqlite_api):
    answer = sqlite_api.client.get("/crl/no-such-ca.crl")
    assert answer.status_code == 404 and "no-such-ca" in answer.json()["error"]


def _request(certificate: x509.Certificate, issuer: x509.Certificate, nonce: bytes | None = None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(Encoding.DER)


def _status(api, body: bytes, issuer: x509.Certificate, serial: int) -> ocsp.OCSPCertStatus:
    response = ocsp.load_der_ocsp_response(body)
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.serial_number == serial
    issuer.public_key().verify(response.signature, response.tbs_response_bytes,
                               ec.ECDSA(response.signature_hash_algorithm))
    return response.certificate_status


def _post(api, certificate: x509.Certificate, request_der: bytes):
    answer = api.client.post(_ocsp_path(certificate), content=request_der, headers=OCSP_REQUEST)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/ocsp-response"
    return answer.content


def _get(api, certificate: x509.Certificate, request_der: bytes, *, escape: bool = True):
    encoded = base64.b64encode(request_der).decode()
    answer = api.client.get(f"{_ocsp_path(certificate)}/{quote(encoded, safe='') if escape else encoded}")
    assert answer.status_code == 200
    return answer.content


def test_ocsp_post_and_get_answer_good_then_revoked(api):
    certificate = _issue(api, "CS-0210")
    issuer = api.pki.hierarchy.station_ca.certificate
    request_der = _request(certificate, issuer)
    serial = certificate.serial_number

    for ask in (_post, _get):
        assert _status(api, ask(api, certificate, request_der), issuer, serial) == ocsp.OCSPCertStatus.GOOD

    _revoke(api, certificate, "cessationOfOperation")
    for ask in (_post, _get):
        response = ocsp.load_der_ocsp_response(ask(api, certificate, request_der))
        assert _status(api, response.public_bytes(Encoding.DER), issuer, serial) == ocsp.OCSPCertStatus.REVOKED
        assert response.revocation_reason == x509.ReasonFlags.cessation_of_operation


def test_ocsp_get_with_slashes_in_the_base64_escaped_or_not(sqlite_api):
    certificate = _issue(sqlite_api, "CS-0211")
    issuer = sqlite_api.pki.hierarchy.station_ca.certificate
    request_der = _request(certificate, issuer, nonce=b"\xff" * 16)  # all-ones bytes encode as '/'
    assert "/" in base64.b64encode(request_der).decode()
    for escape in (True, False):
        body = _get(sqlite_api, certificate, request_der, escape=escape)
        assert _status(sqlite_api, body, issuer, certificate.serial_number) == ocsp.OCSPCertStatus.GOOD
        nonce = ocsp.load_der_ocsp_response(body).extensions.get_extension_for_class(x509.OCSPNonce)
        assert nonce.value.nonce == b"\xff" * 16


def test_ocsp_for_a_serial_we_never_issued_is_unknown(sqlite_api):
    certificate = _issue(sqlite_api, "CS-0212")
    issuer = sqlite_api.pki.hierarchy.station_ca.certificate
    stranger = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        *_issuer_hashes(certificate, issuer), 0x1234567, hashes.SHA1()).build().public_bytes(Encoding.DER)
    assert _status(sqlite_api, _post(sqlite_api, certificate, stranger), issuer, 0x1234567) \
        == ocsp.OCSPCertStatus.UNKNOWN


def _issuer_hashes(certificate: x509.Certificate, issuer: x509.Certificate) -> tuple[bytes, bytes]:
    request = ocsp.load_der_ocsp_request(_request(certificate, issuer))
    return request.issuer_name_hash, request.issuer_key_hash


def test_ocsp_garbage_gets_malformed_request(sqlite_api):
    answer = sqlite_api.client.post("/ocsp", content=b"\x30\x03garbage", headers=OCSP_REQUEST)
    assert answer.status_code == 200
    assert ocsp.load_der_ocsp_response(answer.content).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_ocsp_for_a_negative_serial_is_malformed_request_not_500(sqlite_api):
    certificate = _issue(sqlite_api, "CS-0213")
    request = asn1_ocsp.OCSPRequest.load(_request(certificate, sqlite_api.pki.hierarchy.station_ca.certificate))
    request["tbs_request"]["request_list"][0]["req_cert"]["serial_number"] = -certificate.serial_number
    der = request.dump(force=True)
    for answer in (sqlite_api.client.post("/ocsp", content=der, headers=OCSP_REQUEST),
                   sqlite_api.client.get("/ocsp/" + quote(base64.b64encode(der).decode(), safe=""))):
        assert answer.status_code == 200, answer.text
        assert ocsp.load_der_ocsp_response(answer.content).response_status \
            == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


@pytest.mark.parametrize("chunked", [False, True])
def test_oversized_ocsp_requests_are_413(sqlite_api, chunked):
    body = b"\x30" * (8 * 1024 + 1)
    content = (body[i:i + 1024] for i in range(0, len(body), 1024)) if chunked else body
    answer = sqlite_api.client.post("/ocsp", content=content, headers=OCSP_REQUEST)
    assert answer.status_code == 413 and answer.json()["error"] == "request body larger than 8192 bytes"


def test_ocsp_transport_errors_are_json(sqlite_api):
    wrong_type = sqlite_api.client.post("/ocsp", content=b"\x30\x00", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415 and "application/ocsp-request" in wrong_type.json()["error"]
    not_base64 = sqlite_api.client.get("/ocsp/%%%not-base64!!")
    assert not_base64.status_code == 400 and "base64" in not_base64.json()["error"]
    too_long = sqlite_api.client.get("/ocsp/" + "A" * 12000)
    assert too_long.status_code == 413


@pytest.mark.parametrize("keystore_kind", ["pkcs11"])
def test_a_ca_key_gone_from_the_token_is_503_with_its_rule_not_500(sqlite_api, caplog):
    # Its handle was cached by the first signature; the key is then deleted while the service runs.
    certificate = _issue(sqlite_api, "CS-0290")
    station_ca = sqlite_api.pki.hierarchy.station_ca
    destroy_key(sqlite_api.pki.ctx.settings.pkcs11, station_ca.record.key_label)

    signed = sqlite_api.sign("CS-0290", make_csr("CS-0290", "Test CSO")[0])
    _revoke(sqlite_api, certificate)   # makes the CRL stale: the next read must sign one
    crl = sqlite_api.client.get(_crl_path(certificate))
    for answer in (signed, crl):
        assert answer.status_code == 503, answer.text
        assert answer.json()["rule"] == "ca.key_unavailable" and answer.headers["retry-after"]
        assert station_ca.record.key_label not in answer.text, "the caller may be anonymous"
    [_, failed] = sqlite_api.audit("certificate.sign", "CS-0290")
    assert failed.outcome == Outcome.FAILED and station_ca.record.key_label in failed.detail

    answer = sqlite_api.client.post(_ocsp_path(certificate), content=_request(certificate, station_ca.certificate),
                                    headers=OCSP_REQUEST)
    assert answer.status_code == 503 and answer.headers["content-type"] == "application/ocsp-response"
    assert ocsp.load_der_ocsp_response(answer.content).response_status == ocsp.OCSPResponseStatus.TRY_LATER
    assert TOKEN_PIN not in caplog.text
