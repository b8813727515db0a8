import concurrent.futures
import datetime

import pki_fixtures as fx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding
from cryptography.hazmat.primitives.serialization import Encoding

from pki.lint import (
    LintError,
    LintFinding,
    ensure_clean_certificate,
    errors,
    lint_certificate,
    sign_linted,
    signature_hash_for,
)

pytestmark = pytest.mark.fast


def codes(findings: list[LintFinding]) -> set[str]:
    return {f.code for f in findings}


def sub_ca_builder(issuer: fx.Issued, **profile_flaws) -> x509.CertificateBuilder:
    key = fx.new_key("ec")
    return fx.ca_builder(
        fx.name("Test Sub-CA"),
        issuer.certificate.subject,
        key,
        issuer.key,
        serial=0x3003,
        path_length=0,
        **profile_flaws,
    )


@pytest.mark.parametrize("kind", ["ec", "rsa"])
@pytest.mark.parametrize("role", ["root", "sub_ca", "leaf"])
def test_our_hierarchy_lints_without_errors(kind, role):
    issued = getattr(fx.hierarchy(kind), role)

    findings = lint_certificate(issued.der)

    assert errors(findings) == []
    # The linter really ran over the document (it reports how the SKI was derived).
    assert "pkix.subject_key_identifier_method_1_identified" in codes(findings)


def test_ca_without_key_cert_sign_is_an_error():
    root = fx.hierarchy("ec").root
    cert = sub_ca_builder(root, key_cert_sign=False).sign(root.key, hashes.SHA256())

    found = errors(lint_certificate(cert.public_bytes(Encoding.DER)))

    assert codes(found) == {"pkix.ca_certificate_keycertsign_keyusage_not_set"}
    assert found[0].severity == "ERROR"
    assert found[0].location.endswith("keyUsage")


def test_ca_with_non_critical_basic_constraints_is_an_error():
    root = fx.hierarchy("ec").root
    cert = sub_ca_builder(root, basic_constraints_critical=False).sign(
        root.key, hashes.SHA256()
    )

    assert codes(errors(lint_certificate(cert.public_bytes(Encoding.DER)))) == {
        "pkix.basic_constraints_extension_not_critical"
    }


def test_ca_and_leaf_are_told_apart_by_basic_constraints():
    # pkilint needs no certificate type from us: it classifies each certificate by
    # BasicConstraints.cA. Name constraints are fine on a CA and forbidden on a leaf.
    sub_ca = fx.hierarchy("ec").sub_ca
    constraints = x509.NameConstraints(
        permitted_subtrees=[x509.DNSName("example.com")], excluded_subtrees=None
    )
    ca = (
        sub_ca_builder(sub_ca)
        .add_extension(constraints, critical=True)
        .sign(sub_ca.key, hashes.SHA256())
    )
    leaf = (
        fx.leaf_builder(sub_ca, fx.new_key("ec"), serial=0x4004)
        .add_extension(constraints, critical=True)
        .sign(sub_ca.key, hashes.SHA256())
    )

    assert errors(lint_certificate(ca.public_bytes(Encoding.DER))) == []
    assert codes(errors(lint_certificate(leaf.public_bytes(Encoding.DER)))) == {
        "pkix.name_constraints_in_ee_certificate"
    }


def test_undecodable_input_is_fatal_and_blocks():
    findings = lint_certificate(b"\x30\x03\x02\x01\x01")

    assert [(f.severity, f.code) for f in findings] == [
        ("FATAL", "chargeca.undecodable_document")
    ]
    with pytest.raises(LintError, match="FATAL chargeca.undecodable_document"):
        ensure_clean_certificate(b"not DER at all")


def test_ensure_clean_certificate_message_names_code_severity_and_location():
    root = fx.hierarchy("ec").root
    cert = sub_ca_builder(root, key_cert_sign=False).sign(root.key, hashes.SHA256())

    with pytest.raises(LintError) as raised:
        ensure_clean_certificate(cert.public_bytes(Encoding.DER))

    message = str(raised.value)
    assert "ERROR pkix.ca_certificate_keycertsign_keyusage_not_set at " in message
    assert "certificate.tbsCertificate.extensions.1.extnValue.keyUsage" in message
    assert codes(list(raised.value.findings)) == {
        "pkix.ca_certificate_keycertsign_keyusage_not_set"
    }


def test_ensure_clean_certificate_accepts_a_clean_certificate():
    ensure_clean_certificate(fx.hierarchy("rsa").leaf.der)


def test_errors_keeps_error_and_fatal_only():
    findings = [
        LintFinding(severity, f"code.{severity.lower()}", "certificate", "")
        for severity in ("FATAL", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG")
    ]

    assert [f.severity for f in errors(findings)] == ["FATAL", "ERROR"]


def test_errors_rejects_unknown_severity():
    with pytest.raises(ValueError, match="'SEVERE'.*FATAL, ERROR"):
        errors([LintFinding("SEVERE", "x", "certificate", "")])


def test_linting_from_many_threads_gives_the_sequential_results():
    root = fx.hierarchy("ec").root
    documents = [
        fx.hierarchy("ec").leaf.der,
        fx.hierarchy("rsa").root.der,
        sub_ca_builder(root, key_cert_sign=False).sign(root.key, hashes.SHA256()).public_bytes(Encoding.DER),
    ] * 8
    expected = [lint_certificate(d) for d in documents]

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(lint_certificate, documents)) == expected


# -- sign_linted ----------------------------------------------------------------------


def test_sign_linted_signs_a_clean_certificate_with_the_real_key():
    sub_ca = fx.hierarchy("ec").sub_ca
    real_key = fx.RecordingEcKey(sub_ca.key)
    builder = fx.leaf_builder(sub_ca, fx.new_key("ec"), serial=0x5005)

    cert = sign_linted(builder, real_key, hashes.SHA256())

    assert real_key.sign_calls == 1
    cert.verify_directly_issued_by(sub_ca.certificate)
    assert cert.serial_number == 0x5005


def test_sign_linted_refuses_before_the_real_key_signs():
    root = fx.hierarchy("ec").root
    real_key = fx.RecordingEcKey(root.key)
    builder = sub_ca_builder(root, key_cert_sign=False)

    with pytest.raises(LintError, match="pkix.ca_certificate_keycertsign_keyusage_not_set") as raised:
        sign_linted(builder, real_key, hashes.SHA256())

    assert real_key.sign_calls == 0
    assert "Test Sub-CA" in str(raised.value)


def test_sign_linted_without_lint_signs_even_a_bad_profile():
    root = fx.hierarchy("ec").root
    real_key = fx.RecordingEcKey(root.key)

    cert = sign_linted(sub_ca_builder(root, key_cert_sign=False), real_key, hashes.SHA256(), lint=False)

    assert real_key.sign_calls == 1
    cert.verify_directly_issued_by(root.certificate)


@pytest.mark.parametrize("kind", ["rsa", "p384"])
def test_sign_linted_uses_the_real_key_type_and_hash(kind):
    root = fx.make_root(kind)
    builder = fx.leaf_builder(root, fx.new_key("ec"), serial=0x6006)

    cert = sign_linted(builder, root.key, signature_hash_for(root.key))

    cert.verify_directly_issued_by(root.certificate)
    expected_hash = hashes.SHA384 if kind == "p384" else hashes.SHA256
    assert isinstance(cert.signature_hash_algorithm, expected_hash)


def test_sign_linted_supports_rsa_pss():
    # OCPP A00.FR.505: CA signatures SHOULD be RSA-PSS or ECDSA.
    root = fx.hierarchy("rsa").root
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)

    cert = sign_linted(fx.leaf_builder(root, fx.new_key("ec"), serial=0x6116), root.key, hashes.SHA256(), rsa_padding=pss)

    assert cert.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.10"  # id-RSASSA-PSS
    cert.verify_directly_issued_by(root.certificate)
    assert errors(lint_certificate(cert.public_bytes(Encoding.DER))) == []


def root_without_aki(key: ec.EllipticCurvePrivateKey, subject: x509.Name, issuer: x509.Name) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(0x7007)
        .not_valid_before(fx.NOW)
        .not_valid_after(fx.NOW + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def test_sign_linted_accepts_a_self_signed_root_without_aki():
    # RFC 5280 lets a self-signed root omit AKI; pkilint checks that by verifying the
    # self-signature, which the throwaway-signed rehearsal cannot pass.
    key = fx.new_key("ec")
    subject = fx.name("Root without AKI")

    cert = sign_linted(root_without_aki(key, subject, subject), key, hashes.SHA256())

    cert.verify_directly_issued_by(cert)


def test_sign_linted_still_requires_aki_when_not_self_signed():
    root = fx.hierarchy("ec").root
    builder = root_without_aki(fx.new_key("ec"), fx.name("Sub-CA without AKI"), root.certificate.subject)

    with pytest.raises(LintError, match="pkix.authority_key_identifier_extension_absent"):
        sign_linted(builder, root.key, hashes.SHA256())


# -- signature_hash_for -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("curve", "expected"),
    [
        (ec.SECP256R1(), hashes.SHA256),
        (ec.SECP384R1(), hashes.SHA384),
        (ec.SECP521R1(), hashes.SHA512),
    ],
)
def test_signature_hash_for_ec_curves(curve, expected):
    key = ec.generate_private_key(curve)

    assert isinstance(signature_hash_for(key), expected)
    assert isinstance(signature_hash_for(key.public_key()), expected)


def test_signature_hash_for_rsa_is_sha256():
    assert isinstance(signature_hash_for(fx.hierarchy("rsa").root.key), hashes.SHA256)


def test_signature_hash_for_rejects_unsupported_curve():
    with pytest.raises(ValueError, match="secp256k1"):
        signature_hash_for(ec.generate_private_key(ec.SECP256K1()))


def test_signature_hash_for_rejects_ed25519():
    with pytest.raises(TypeError, match="algorithm=None"):
        signature_hash_for(ed25519.Ed25519PrivateKey.generate())


def test_sign_linted_refuses_a_bad_certificate_for_rsa_too():
    root = fx.hierarchy("rsa").root
    builder = fx.ca_builder(
        fx.name("Flawed RSA Sub-CA"),
        root.certificate.subject,
        fx.new_key("ec"),
        root.key,
        serial=0x9009,
        path_length=0,
        basic_constraints_critical=False,
    )

    with pytest.raises(LintError, match="basic_constraints_extension_not_critical"):
        sign_linted(builder, root.key, hashes.SHA256())


@pytest.mark.parametrize("names, allowed", [
    (["csms.test", "localhost", "127.0.0.1"], True),          # the development server certificate's names
    (["csms.test", "localhost."], False),
    (["csms.test", "intranet"], False),                       # only the loopback name is single-label
])
def test_sign_linted_lets_through_localhost_only(names, allowed):
    import ipaddress

    from pki.profiles import alt_name

    sub_ca = fx.hierarchy("ec").sub_ca
    builder = fx.leaf_builder(sub_ca, fx.new_key("ec"), serial=0x6006).add_extension(
        x509.SubjectAlternativeName([alt_name(n) for n in names]), critical=False)
    assert isinstance(alt_name("127.0.0.1").value, ipaddress.IPv4Address)
    if allowed:
        sign_linted(builder, sub_ca.key, hashes.SHA256())
    else:
        with pytest.raises(LintError, match="invalid_domain_name_syntax"):
            sign_linted(builder, sub_ca.key, hashes.SHA256())
