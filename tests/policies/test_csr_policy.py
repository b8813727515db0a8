"""Every CSR refusal names its rule, and nothing is signed or lost when one is refused."""

from __future__ import annotations

import secrets
import subprocess

import pytest
from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ed25519, rsa
from cryptography.x509.oid import NameOID
from csr_factory import make_csr, new_key

from api.core.audit import Actor
from api.csms.security.authority_service import sign_csr
from api.operations.stations import add_station
from pki.issuance import CsrRefused, UnknownStation
from policies.csr import check_csr, key_fingerprint
from policies.loader import PolicyError, load_policy
from policies.model import CsrPolicy, KeyPolicy

pytestmark = pytest.mark.fast

ORG = "Test CSO"


def check(pem: str, station: str = "CP1", known=()):
    return check_csr(pem, station_id=station, organization=ORG, known_key_fingerprints=known,
                     csr_policy=CsrPolicy(), key_policy=KeyPolicy())


def rule_of(pem: str, **kwargs) -> str:
    decision = check(pem, **kwargs).decision
    assert not decision.allowed
    assert decision.reason
    return decision.rule


@pytest.mark.parametrize("key_spec", ["rsa-2048", "rsa-3072", "ec-p256", "ec-p384"])
def test_acceptable_keys_pass(key_spec):
    pem, _ = make_csr("CP1", key=new_key(key_spec))
    result = check(pem)
    assert result.decision.allowed and result.csr is not None


def test_csr_without_o_is_fine():
    assert check(make_csr("CP1", org=None)[0]).decision.allowed


def test_weak_rsa_key():
    assert rule_of(make_csr("CP1", key=new_key("rsa-1024"))[0]) == "csr.key.rsa_size"


def _csr_with_public_key(public_key) -> str:
    """A CSR whose SubjectPublicKeyInfo is ``public_key``, signed by another key.

    Generating an RSA key far above the limit takes seconds to minutes; the key rules run
    before the proof-of-possession check, so a CSR carrying only the public half shows them."""
    template = x509.load_pem_x509_csr(make_csr("CP1")[0].encode())
    request = asn1_csr.CertificationRequest.load(template.public_bytes(serialization.Encoding.DER))
    info = request["certification_request_info"]
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    info["subject_pk_info"] = asn1_keys.PublicKeyInfo.load(spki)
    crafted = asn1_csr.CertificationRequest({
        "certification_request_info": info,
        "signature_algorithm": request["signature_algorithm"],
        "signature": request["signature"],
    })
    return x509.load_der_x509_csr(crafted.dump()).public_bytes(serialization.Encoding.PEM).decode()


def test_rsa_exponent_3_refused():
    key = rsa.generate_private_key(public_exponent=3, key_size=2048)
    pem, _ = make_csr("CP1", key=key)
    decision = check(pem).decision
    assert (decision.allowed, decision.rule) == (False, "csr.key.rsa_exponent")
    assert "exponent 3" in decision.reason


def test_rsa_above_the_default_maximum_refused():
    # An RSA-8192 key (a 8192-bit odd modulus) fits the 5500-character CSR limit.
    modulus = secrets.randbits(8192) | (1 << 8191) | 1
    pem = _csr_with_public_key(rsa.RSAPublicNumbers(65537, modulus).public_key())
    assert len(pem) < CsrPolicy().max_chars
    decision = check(pem).decision
    assert (decision.allowed, decision.rule) == (False, "csr.key.rsa_size")
    assert "8192 bits is above the maximum of 4096" in decision.reason


def test_rsa_maximum_comes_from_the_policy_file(tmp_path):
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text("[keys]\nrsa_max_bits = 2048\n")
    policy = load_policy(policy_file)
    pem, _ = make_csr("CP1", key=new_key("rsa-3072"))
    decision = check_csr(pem, station_id="CP1", organization=ORG, csr_policy=policy.csr, key_policy=policy.keys).decision
    assert (decision.allowed, decision.rule) == (False, "csr.key.rsa_size")
    assert check(pem).decision.allowed, "the default maximum (4096) admits RSA-3072"


def test_rsa_maximum_below_minimum_is_a_policy_error(tmp_path):
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text("[keys]\nrsa_max_bits = 1024\n")
    with pytest.raises(PolicyError, match=r"\[keys\]: rsa_min_bits"):
        load_policy(policy_file)


def test_curve_not_in_policy():
    assert rule_of(make_csr("CP1", key=new_key("ec-p521"))[0]) == "csr.key.ec_curve"


def test_other_key_types():
    # Ed25519 CSRs are signed without a separate hash algorithm.
    key = ed25519.Ed25519PrivateKey.generate()
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CP1")])).sign(key, None)
    assert rule_of(csr.public_bytes(serialization.Encoding.PEM).decode()) == "csr.key.algorithm"


def test_dsa_key_refused():
    key = dsa.generate_private_key(2048)
    pem, _ = make_csr("CP1", key=key)
    assert rule_of(pem) == "csr.key.algorithm"


def test_wrong_cn():
    assert rule_of(make_csr("CP2")[0]) == "csr.subject.cn"


def test_missing_cn():
    assert rule_of(make_csr(None)[0]) == "csr.subject.cn"


def test_wrong_o():
    assert rule_of(make_csr("CP1", org="Evil CSO")[0]) == "csr.subject.o"


def test_sha1_signature_refused(tmp_path):
    # cryptography refuses to sign with SHA-1, so let OpenSSL make the legacy CSR.
    key = tmp_path / "k.pem"
    key.write_bytes(new_key("ec-p256").private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    pem = subprocess.run(["openssl", "req", "-new", "-key", str(key), "-subj", "/CN=CP1", "-sha1"],
                         check=True, capture_output=True, text=True).stdout
    assert rule_of(pem) == "csr.signature_hash"


def test_bad_signature():
    pem, _ = make_csr("CP1")
    der = bytearray(x509.load_pem_x509_csr(pem.encode()).public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature value
    tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()
    assert rule_of(tampered) == "csr.signature"


def test_not_a_csr():
    assert rule_of("hello") == "csr.format"
    assert rule_of("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n") == "csr.format"
    assert rule_of("-----BEGIN CERTIFICATE REQUEST-----\nnot base64!\n-----END CERTIFICATE REQUEST-----\n") == "csr.format"


def test_anything_but_one_request_block_is_refused():
    # The parser took the first block and skipped the rest: all of it was accepted and stored.
    pem, _ = make_csr("CP1")
    other, _ = make_csr("CP1")
    for text in (pem + other, "junk\n" + pem, pem + "junk\n", pem + "-----BEGIN CERTIFICATE-----\n"):
        assert rule_of(text) == "csr.format"
    assert check("\n  " + pem + "\n\n").decision.allowed   # whitespace around it is no content


def test_oversized():
    pem, _ = make_csr("CP1")
    assert rule_of(pem + " " * 5500) == "csr.size"


def test_key_reuse():
    pem, key = make_csr("CP1")
    assert rule_of(pem, known={key_fingerprint(key.public_key())}) == "csr.key_reuse"


def test_refusals_through_the_ca_sign_nothing_and_are_audited(pki):
    from sqlmodel import select

    from storage.audit import AuditEntry
    from storage.certificates import IssuedCertificate
    from storage.db import session_scope

    actor = Actor("test:officer")
    add_station(pki.ctx, actor, "CP1", security_profile=3)
    pem, key = make_csr("CP1")
    sign_csr(pki.ctx, actor, "CP1", pem)
    with pytest.raises(CsrRefused) as refused:
        sign_csr(pki.ctx, actor, "CP1", make_csr("CP1", key=key)[0])
    assert refused.value.decision.rule == "csr.key_reuse"
    with pytest.raises(CsrRefused) as other_station:
        add_station(pki.ctx, actor, "CP2", security_profile=3)
        sign_csr(pki.ctx, actor, "CP2", make_csr("CP2", key=key)[0])
    assert other_station.value.decision.rule == "csr.key_reuse"
    with pytest.raises(CsrRefused) as small_exponent:
        sign_csr(pki.ctx, actor, "CP2", make_csr("CP2", key=rsa.generate_private_key(3, 2048))[0])
    assert small_exponent.value.decision.rule == "csr.key.rsa_exponent"
    with pytest.raises(UnknownStation):
        sign_csr(pki.ctx, actor, "NOPE", make_csr("NOPE")[0])

    with session_scope(pki.ctx.engine) as session:
        stations = session.exec(select(IssuedCertificate).where(IssuedCertificate.kind == "station")).all()
        entries = session.exec(select(AuditEntry).where(AuditEntry.action == "certificate.sign")).all()
    assert len(stations) == 1, "refused CSRs produced no certificate"
    assert [e.outcome for e in entries] == ["success", "refused", "refused", "refused", "refused"]
    assert '"rule":"csr.key_reuse"' in entries[1].detail
