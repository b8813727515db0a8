import functools
import re

import pki_fixtures as fx
import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp

from pki.hashdata import HASH_ALGORITHMS, CertificateHashData, certificate_hash_data

pytestmark = pytest.mark.fast

CRYPTOGRAPHY_HASHES = {"SHA256": hashes.SHA256, "SHA384": hashes.SHA384, "SHA512": hashes.SHA512}
OPENSSL_FLAGS = {"SHA256": "-sha256", "SHA384": "-sha384", "SHA512": "-sha512"}

# First nibble zero: OpenSSL prints it as "0A3B…", OCPP wants "a3b…".
LEADING_ZERO_NIBBLE_SERIAL = 0x0A3B_1C2D_3E4F_5061_7283_94A5_B6C7_D8E9

needs_openssl = pytest.mark.skipif(fx.OPENSSL is None, reason="openssl command line not installed")


@functools.cache
def leading_zero_leaf(kind: fx.KeyKind) -> fx.Issued:
    return fx.make_leaf(fx.hierarchy(kind).sub_ca, kind, serial=LEADING_ZERO_NIBBLE_SERIAL)


def pairs(kind: fx.KeyKind) -> dict[str, tuple[x509.Certificate, x509.Certificate]]:
    """(certificate, issuer) pairs: a leaf, a sub-CA, a self-signed root, a 0-nibble serial."""
    h = fx.hierarchy(kind)
    return {
        "leaf": (h.leaf.certificate, h.sub_ca.certificate),
        "sub_ca": (h.sub_ca.certificate, h.root.certificate),
        "root": (h.root.certificate, h.root.certificate),
        "leading_zero": (leading_zero_leaf(kind).certificate, h.sub_ca.certificate),
    }


def openssl_cert_id(tmp_path, cert, issuer, algorithm) -> dict[str, str]:
    cert_pem = fx.write_pem(tmp_path, "cert.pem", cert)
    issuer_pem = fx.write_pem(tmp_path, "issuer.pem", issuer)
    result = fx.openssl(
        # The digest flag only applies to -cert options after it.
        "ocsp", "-issuer", issuer_pem, OPENSSL_FLAGS[algorithm], "-cert", cert_pem,
        "-req_text", "-no_nonce", "-reqout", tmp_path / "req.der",
    )
    assert result.returncode == 0, result.stderr
    # OpenSSL wraps long hex values with a backslash at the end of the line.
    text = result.stdout.replace("\\\n", "")
    fields = dict(re.findall(r"^\s*(Issuer Name Hash|Issuer Key Hash|Serial Number): (\S+)$", text, re.M))
    assert fields.keys() == {"Issuer Name Hash", "Issuer Key Hash", "Serial Number"}, text
    return fields


@pytest.mark.parametrize("kind", ["ec", "rsa"])
@pytest.mark.parametrize("role", ["leaf", "sub_ca", "root", "leading_zero"])
@pytest.mark.parametrize("algorithm", HASH_ALGORITHMS)
def test_hashes_equal_cryptography_ocsp_cert_id(kind, role, algorithm):
    cert, issuer = pairs(kind)[role]
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert, issuer, CRYPTOGRAPHY_HASHES[algorithm]())
        .build()
    )

    data = certificate_hash_data(cert, issuer, algorithm)

    assert data.hash_algorithm == algorithm
    assert data.issuer_name_hash == request.issuer_name_hash.hex()
    assert data.issuer_key_hash == request.issuer_key_hash.hex()
    assert int(data.serial_number, 16) == request.serial_number


@needs_openssl
@pytest.mark.parametrize("kind", ["ec", "rsa"])
@pytest.mark.parametrize("role", ["leaf", "root", "leading_zero"])
@pytest.mark.parametrize("algorithm", HASH_ALGORITHMS)
def test_hashes_equal_openssl_ocsp_cert_id(tmp_path, kind, role, algorithm):
    cert, issuer = pairs(kind)[role]
    expected = openssl_cert_id(tmp_path, cert, issuer, algorithm)

    data = certificate_hash_data(cert, issuer, algorithm)

    assert data.issuer_name_hash == expected["Issuer Name Hash"].lower()
    assert data.issuer_key_hash == expected["Issuer Key Hash"].lower()
    assert data.serial_number == expected["Serial Number"].lower().lstrip("0")


@needs_openssl
@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_serial_with_leading_zero_nibble_drops_it(tmp_path, kind):
    cert, issuer = pairs(kind)["leading_zero"]
    openssl_serial = openssl_cert_id(tmp_path, cert, issuer, "SHA256")["Serial Number"]

    data = certificate_hash_data(cert, issuer)

    assert openssl_serial.startswith("0A3B")  # the fixture really has the zero nibble
    assert data.serial_number == "a3b1c2d3e4f5061728394a5b6c7d8e9"


def test_serial_with_high_bit_has_no_der_padding_octet():
    h = fx.hierarchy("ec")

    data = certificate_hash_data(h.leaf.certificate, h.sub_ca.certificate)

    assert data.serial_number == "8f3c5a1100427e19c0de2b6d91a40f55"


@pytest.mark.filterwarnings("ignore:Parsed a serial number which wasn't positive")
def test_serial_zero_is_rendered_as_0():
    # cryptography refuses to build serial 0 (and warns when loading one), so rewrite
    # an existing certificate's serial; the signature breaks, which hashing ignores.
    h = fx.hierarchy("ec")
    asn1_cert = asn1_x509.Certificate.load(h.leaf.der)
    asn1_cert["tbs_certificate"]["serial_number"] = 0
    zero = x509.load_der_x509_certificate(asn1_cert.dump(force=True))

    assert certificate_hash_data(zero, h.sub_ca.certificate).serial_number == "0"


def test_output_is_lowercase_hex_of_digest_length():
    h = fx.hierarchy("rsa")
    for algorithm, length in zip(HASH_ALGORITHMS, (64, 96, 128)):
        data = certificate_hash_data(h.leaf.certificate, h.sub_ca.certificate, algorithm)
        for value in (data.issuer_name_hash, data.issuer_key_hash):
            assert re.fullmatch(f"[0-9a-f]{{{length}}}", value)


def test_root_is_its_own_issuer_and_differs_from_its_children():
    h = fx.hierarchy("ec")

    root = certificate_hash_data(h.root.certificate, h.root.certificate)
    sub_ca = certificate_hash_data(h.sub_ca.certificate, h.root.certificate)

    # Same issuer (the root) for both, so only the serial tells them apart.
    assert (root.issuer_name_hash, root.issuer_key_hash) == (sub_ca.issuer_name_hash, sub_ca.issuer_key_hash)
    assert root.serial_number != sub_ca.serial_number


def test_unknown_algorithm_names_the_allowed_ones():
    h = fx.hierarchy("ec")

    with pytest.raises(ValueError, match="'SHA1'.*SHA256, SHA384, SHA512"):
        certificate_hash_data(h.leaf.certificate, h.sub_ca.certificate, "SHA1")
    with pytest.raises(ValueError, match="'sha256'"):
        certificate_hash_data(h.leaf.certificate, h.sub_ca.certificate, "sha256")


def test_wrong_issuer_is_rejected():
    h = fx.hierarchy("ec")

    with pytest.raises(ValueError, match="is not the issuer"):
        certificate_hash_data(h.leaf.certificate, h.root.certificate)


# -- OCPP shape and matching ----------------------------------------------------------


def test_to_ocpp_and_back():
    h = fx.hierarchy("ec")
    data = certificate_hash_data(h.leaf.certificate, h.sub_ca.certificate, "SHA384")

    message = data.to_ocpp()

    assert message == {
        "hashAlgorithm": "SHA384",
        "issuerNameHash": data.issuer_name_hash,
        "issuerKeyHash": data.issuer_key_hash,
        "serialNumber": "8f3c5a1100427e19c0de2b6d91a40f55",
    }
    assert CertificateHashData.from_ocpp(message) == data


def test_from_ocpp_ignores_ocsp_request_data_responder_url():
    h = fx.hierarchy("ec")
    data = certificate_hash_data(h.leaf.certificate, h.sub_ca.certificate)

    parsed = CertificateHashData.from_ocpp({**data.to_ocpp(), "responderURL": "http://ocsp.example"})

    assert parsed == data


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"hashAlgorithm": "MD5"}, "'MD5'.*SHA256, SHA384, SHA512"),
        ({"issuerNameHash": "not-hex"}, "issuerNameHash must be a non-empty hex string"),
        ({"serialNumber": ""}, "serialNumber must be a non-empty hex string"),
        ({"issuerKeyHash": 17}, "issuerKeyHash must be a string, got int"),
    ],
)
def test_from_ocpp_rejects_bad_values(change, error):
    good = {"hashAlgorithm": "SHA256", "issuerNameHash": "ab", "issuerKeyHash": "cd", "serialNumber": "1"}

    with pytest.raises(ValueError, match=error):
        CertificateHashData.from_ocpp({**good, **change})


def test_from_ocpp_names_missing_fields():
    with pytest.raises(ValueError, match="lacks issuerKeyHash, serialNumber"):
        CertificateHashData.from_ocpp({"hashAlgorithm": "SHA256", "issuerNameHash": "ab"})


def test_matches_ignores_case_and_leading_zeros():
    h = fx.hierarchy("ec")
    ours = certificate_hash_data(leading_zero_leaf("ec").certificate, h.sub_ca.certificate)
    # What a station might report: uppercase, serial with its DER-style leading zero.
    reported = CertificateHashData(
        hash_algorithm="SHA256",
        issuer_name_hash=ours.issuer_name_hash.upper(),
        issuer_key_hash=ours.issuer_key_hash.upper(),
        serial_number="00" + ours.serial_number.upper(),
    )

    assert ours.matches(reported)
    assert reported.matches(ours)


def test_matches_distinguishes_certificates_and_algorithms():
    h = fx.hierarchy("ec")
    leaf = certificate_hash_data(h.leaf.certificate, h.sub_ca.certificate)
    other = certificate_hash_data(leading_zero_leaf("ec").certificate, h.sub_ca.certificate)
    leaf_sha512 = certificate_hash_data(h.leaf.certificate, h.sub_ca.certificate, "SHA512")
    rsa_leaf = certificate_hash_data(fx.hierarchy("rsa").leaf.certificate, fx.hierarchy("rsa").sub_ca.certificate)

    assert not leaf.matches(other)  # same issuer, other serial
    assert not leaf.matches(leaf_sha512)  # same certificate, other algorithm
    assert not leaf.matches(rsa_leaf)  # same serial, other issuer
    assert leaf.serial_number == rsa_leaf.serial_number


def test_serial_zero_matches_only_zero():
    zero = CertificateHashData("SHA256", "ab", "cd", "0")

    assert zero.matches(CertificateHashData("SHA256", "AB", "CD", "000"))
    assert not zero.matches(CertificateHashData("SHA256", "ab", "cd", "10"))
