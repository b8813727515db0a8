import datetime

import pki_fixtures as fx
import pytest
from conftest import both_keystores
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from pki.crl import REVOCATION_REASONS, RevokedEntry, build_crl, parse_reason
from pki.lint import LintError, errors, lint_crl, sign_crl_linted

pytestmark = pytest.mark.fast

keystore_kind = both_keystores()

needs_openssl = pytest.mark.skipif(fx.OPENSSL is None, reason="openssl command line not installed")

THIS_UPDATE = fx.NOW
NEXT_UPDATE = fx.NOW + datetime.timedelta(days=7)
REVOKED_AT = fx.NOW - datetime.timedelta(hours=3)

ENTRIES = [
    RevokedEntry(0x1111, REVOKED_AT, x509.ReasonFlags.key_compromise),
    RevokedEntry(0x2222, REVOKED_AT, x509.ReasonFlags.superseded),
    RevokedEntry(0x3333, REVOKED_AT, x509.ReasonFlags.certificate_hold),
    RevokedEntry(0x4444, REVOKED_AT, x509.ReasonFlags.unspecified),
    RevokedEntry(0x5555, REVOKED_AT, None),
]


def make_crl(issuer: fx.Issued, entries=ENTRIES, **overrides) -> x509.CertificateRevocationList:
    arguments = {"crl_number": 42, "this_update": THIS_UPDATE, "next_update": NEXT_UPDATE}
    return build_crl(issuer.certificate, issuer.key, entries, **{**arguments, **overrides})


def reason_of(crl: x509.CertificateRevocationList, serial: int) -> x509.ReasonFlags | None:
    entry = crl.get_revoked_certificate_by_serial_number(serial)
    assert entry is not None, f"serial {serial:x} missing from the CRL"
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return None


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_crl_carries_number_aki_and_validity(kind, ca_hierarchy):
    sub_ca = ca_hierarchy(kind).sub_ca

    crl = make_crl(sub_ca)

    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 42
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = sub_ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert aki.authority_cert_issuer is None and aki.authority_cert_serial_number is None
    assert crl.issuer == sub_ca.certificate.subject
    assert crl.last_update_utc == THIS_UPDATE
    assert crl.next_update_utc == NEXT_UPDATE
    assert crl.is_signature_valid(sub_ca.certificate.public_key())


def test_crl_entries_carry_reason_codes_except_unspecified(ca_hierarchy):
    crl = make_crl(ca_hierarchy("ec").sub_ca)

    assert {r.serial_number for r in crl} == {e.serial for e in ENTRIES}
    assert reason_of(crl, 0x1111) is x509.ReasonFlags.key_compromise
    assert reason_of(crl, 0x2222) is x509.ReasonFlags.superseded
    assert reason_of(crl, 0x3333) is x509.ReasonFlags.certificate_hold
    assert reason_of(crl, 0x4444) is None  # RFC 5280: omit rather than say "unspecified"
    assert reason_of(crl, 0x5555) is None
    assert crl.get_revoked_certificate_by_serial_number(0x1111).revocation_date_utc == REVOKED_AT


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_crl_lints_clean(kind, ca_hierarchy):
    crl = make_crl(ca_hierarchy(kind).sub_ca)

    assert errors(lint_crl(crl.public_bytes(Encoding.DER))) == []


def test_empty_crl_lints_clean_and_lists_nothing(ca_hierarchy):
    crl = make_crl(ca_hierarchy("ec").root, entries=[])

    assert len(crl) == 0
    assert errors(lint_crl(crl.public_bytes(Encoding.DER))) == []


@needs_openssl
@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_openssl_verifies_the_crl_against_its_issuer_only(tmp_path, kind, ca_hierarchy):
    h = ca_hierarchy(kind)
    crl_path = tmp_path / "crl.pem"
    crl_path.write_bytes(make_crl(h.sub_ca).public_bytes(Encoding.PEM))

    verified = fx.openssl("crl", "-in", crl_path, "-CAfile", fx.write_pem(tmp_path, "sub.pem", h.sub_ca.certificate), "-noout")
    wrong = fx.openssl("crl", "-in", crl_path, "-CAfile", fx.write_pem(tmp_path, "root.pem", h.root.certificate), "-noout")

    assert verified.returncode == 0, verified.stderr
    assert "verify OK" in verified.stderr
    assert wrong.returncode != 0


@needs_openssl
def test_openssl_reads_reason_codes(tmp_path, ca_hierarchy):
    crl_path = tmp_path / "crl.pem"
    crl_path.write_bytes(make_crl(ca_hierarchy("ec").sub_ca).public_bytes(Encoding.PEM))

    text = fx.openssl("crl", "-in", crl_path, "-noout", "-text").stdout

    assert "X509v3 CRL Number: \n                42" in text
    assert text.count("X509v3 CRL Reason Code") == 3
    for reason in ("Key Compromise", "Superseded", "Certificate Hold"):
        assert reason in text
    assert "Unspecified" not in text


@pytest.mark.parametrize(("kind", "expected"), [("ec", hashes.SHA256), ("rsa", hashes.SHA256), ("p384", hashes.SHA384)])
def test_crl_signature_hash_follows_issuer_key(kind, expected, ca_hierarchy):
    root = ca_hierarchy(kind).root

    crl = make_crl(root)

    assert isinstance(crl.signature_hash_algorithm, expected)
    assert crl.is_signature_valid(root.certificate.public_key())


# -- refusals -----------------------------------------------------------------------


def test_remove_from_crl_is_refused_in_a_full_crl():
    entries = [RevokedEntry(0x1111, REVOKED_AT, x509.ReasonFlags.remove_from_crl)]

    with pytest.raises(ValueError, match="removeFromCRL is only valid in delta CRLs"):
        make_crl(fx.hierarchy("ec").sub_ca, entries=entries)


def test_duplicate_serials_are_refused():
    entries = [RevokedEntry(0xABC, REVOKED_AT, None), RevokedEntry(0xABC, REVOKED_AT, x509.ReasonFlags.superseded)]

    with pytest.raises(ValueError, match="serial abc is listed more than once"):
        make_crl(fx.hierarchy("ec").sub_ca, entries=entries)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"next_update": THIS_UPDATE}, "next_update .* must be after this_update"),
        ({"this_update": THIS_UPDATE.replace(tzinfo=None)}, "this_update must be timezone-aware"),
        ({"crl_number": -1}, "crl_number must be in 0 .. 2\\*\\*159-1, got -1"),
        ({"crl_number": 1 << 159}, "crl_number must be in"),
    ],
)
def test_invalid_crl_parameters_are_refused(overrides, error):
    with pytest.raises(ValueError, match=error):
        make_crl(fx.hierarchy("ec").sub_ca, **overrides)


def test_naive_revocation_time_is_refused():
    entries = [RevokedEntry(0x1, REVOKED_AT.replace(tzinfo=None), None)]

    with pytest.raises(ValueError, match="revocation time of serial 1 must be timezone-aware"):
        make_crl(fx.hierarchy("ec").sub_ca, entries=entries)


def test_non_positive_serial_is_refused():
    with pytest.raises(ValueError, match="revoked serial must be positive, got 0"):
        make_crl(fx.hierarchy("ec").sub_ca, entries=[RevokedEntry(0, REVOKED_AT, None)])


def test_key_of_another_ca_is_refused(ca_hierarchy):
    h = ca_hierarchy("ec")

    with pytest.raises(ValueError, match="issuer key does not belong to"):
        build_crl(h.sub_ca.certificate, h.root.key, [], crl_number=1, this_update=THIS_UPDATE, next_update=NEXT_UPDATE)


def test_issuer_without_crl_sign_is_refused():
    leaf = fx.hierarchy("ec").leaf

    with pytest.raises(ValueError, match="lacks the cRLSign key usage"):
        make_crl(leaf, entries=[])


def test_issuer_without_ski_is_refused():
    key = fx.new_key("ec")
    subject = fx.name("CA without SKI")
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(fx.NOW)
        .not_valid_after(NEXT_UPDATE)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )

    with pytest.raises(ValueError, match="has no SubjectKeyIdentifier"):
        build_crl(cert, key, [], crl_number=1, this_update=THIS_UPDATE, next_update=NEXT_UPDATE)


def test_crl_failing_lint_is_never_signed_by_the_real_key(ca_hierarchy):
    sub_ca = ca_hierarchy("ec").sub_ca
    real_key = fx.RecordingEcKey(sub_ca.key)
    # No CRLNumber: RFC 5280 §5.2.3 requires one in every conforming CRL.
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(sub_ca.certificate.subject)
        .last_update(THIS_UPDATE)
        .next_update(NEXT_UPDATE)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(sub_ca.key.public_key()), critical=False
        )
    )

    with pytest.raises(LintError, match="ERROR pkix.crl_number_missing"):
        sign_crl_linted(builder, real_key, hashes.SHA256())
    assert real_key.sign_calls == 0

    sign_crl_linted(builder, real_key, hashes.SHA256(), lint=False)
    assert real_key.sign_calls == 1


# -- reasons ------------------------------------------------------------------------


def test_all_rfc5280_reason_names_parse():
    assert set(REVOCATION_REASONS) == {
        "unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
        "cessationOfOperation", "certificateHold", "removeFromCRL", "privilegeWithdrawn", "aACompromise",
    }
    assert parse_reason("keyCompromise") is x509.ReasonFlags.key_compromise
    assert parse_reason(" cACompromise ") is x509.ReasonFlags.ca_compromise
    assert parse_reason("aACompromise") is x509.ReasonFlags.aa_compromise
    assert {parse_reason(n) for n in REVOCATION_REASONS} == set(x509.ReasonFlags)


def test_unknown_reason_lists_valid_names():
    with pytest.raises(ValueError, match="'key_compromise'.*keyCompromise, cACompromise"):
        parse_reason("key_compromise")
