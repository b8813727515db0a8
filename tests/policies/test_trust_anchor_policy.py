"""What may be sent in InstallCertificate, and which DeleteCertificate could lock a station out:
every refusal names its rule. Pure checks, real certificates, OpenSSL as the second opinion."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ObjectIdentifier
from pki_fixtures import NOW, ca_builder, hash_for, make_root, make_sub_ca, name, new_key, openssl, write_pem

from pki.hashdata import CertificateHashData, certificate_hash_data
from policies.trust_anchor import (
    FORCED,
    INSTALL_FORCED,
    INSTALLABLE_TYPES,
    InstalledEntry,
    check_delete,
    check_install_capacity,
    check_installable_rollover_root,
    check_installable_root,
)

pytestmark = pytest.mark.fast


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _self_signed(key=None, *, sign_with=None, algorithm=None, **knobs) -> x509.Certificate:
    key = key or new_key("ec")
    signer = sign_with or key
    subject = name("Installable Root")
    builder = ca_builder(subject, subject, key, signer, serial=0x51, path_length=None, **knobs)
    return builder.sign(signer, algorithm or hash_for(signer))


@pytest.fixture(scope="module")
def root() -> x509.Certificate:
    return _self_signed()


def _refusal(pem: str, certificate_type: str = "CSMSRootCertificate", now=NOW) -> str:
    decision = check_installable_root(pem, certificate_type, now=now)
    assert not decision, "expected a refusal"
    assert decision.reason
    return decision.rule


@pytest.mark.parametrize("certificate_type", INSTALLABLE_TYPES)
def test_a_self_signed_ca_root_is_installable_as_every_root_type(root, certificate_type):
    assert check_installable_root(_pem(root), certificate_type, now=NOW)




def test_station_certificate_type_cannot_be_installed(root):
    assert _refusal(_pem(root), "ChargingStationCertificate") == "root.type"


def test_oversized_certificate_is_refused(root):
    key = new_key("ec")
    subject = name("Bulky Root")
    bulky = (ca_builder(subject, subject, key, key, serial=0x52, path_length=None)
             .add_extension(x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x00" * 4500),
                            critical=False)
             .sign(key, hashes.SHA256()))
    pem = _pem(bulky)
    assert len(pem) > 5500
    assert _refusal(pem) == "root.size"


@pytest.mark.parametrize("text", [
    "not a certificate",
    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    "-----BEGIN CERTIFICATE-----\nMIIB\n",
])
def test_text_that_is_not_one_pem_certificate_is_refused(text):
    assert _refusal(text) == "root.format"


def test_text_around_the_certificate_is_refused(root):
    assert _refusal("subject=O = x, CN = y\n" + _pem(root)) == "root.format"


def test_a_private_key_sent_along_never_leaves(root):
    key = new_key("ec").private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()
    decision = check_installable_root(_pem(root) + key, "CSMSRootCertificate", now=NOW)
    assert decision.rule == "root.format" and "PRIVATE KEY" in decision.reason


def test_a_certificate_signing_request_is_refused():
    from csr_factory import make_csr
    pem, _ = make_csr("CP-1")
    assert _refusal(pem) == "root.format"


def test_a_chain_is_refused_even_if_it_starts_with_a_root():
    root = make_root("ec", serial=0x61)
    sub = make_sub_ca(root, "ec", serial=0x62)
    assert _refusal((root.pem + sub.pem).decode()) == "root.multiple"


def test_a_sub_ca_is_not_a_root():
    root = make_root("ec", serial=0x63)
    sub = make_sub_ca(root, "ec", serial=0x64)
    decision = check_installable_root(sub.pem.decode(), "CSMSRootCertificate", now=NOW)
    assert decision.rule == "root.not_self_signed" and "issued by" in decision.reason


def test_self_issued_but_signed_by_another_key_is_not_self_signed():
    forged = _self_signed(sign_with=new_key("ec"))
    assert forged.issuer == forged.subject
    assert _refusal(_pem(forged)) == "root.not_self_signed"


def test_self_signed_end_entity_is_not_a_ca():
    key = new_key("ec")
    subject = name("Not A CA")
    leaf = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(0x65).not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    assert _refusal(_pem(leaf)) == "root.not_ca"


def test_ca_without_keycertsign_is_refused():
    assert _refusal(_pem(_self_signed(key_cert_sign=False))) == "root.no_keycertsign"


def test_weak_rsa_root_is_refused():
    weak = _self_signed(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    assert _refusal(_pem(weak)) == "root.key.rsa_size"


def _openssl_root(directory, *extra: str) -> str:
    """A root made by `openssl req -x509`; cryptography refuses to sign some of these itself."""
    key, cert = directory / "root.key", directory / "root.pem"
    result = openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", key, "-out", cert, "-subj", "/O=Other CSO/CN=Other Root", "-days", "30",
                     "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign,cRLSign", *extra)
    assert result.returncode == 0, result.stderr
    return cert.read_text()


def test_sha1_signed_root_is_refused(tmp_path):
    pem = _openssl_root(tmp_path, "-sha1")
    assert _refusal(pem, now=datetime.datetime.now(datetime.timezone.utc)) == "root.signature_hash"


def test_root_made_by_openssl_is_installable(tmp_path):
    pem = _openssl_root(tmp_path, "-sha256")
    # The clock is read after openssl ran: its notBefore is the second it signed, which can be later
    # than a clock read before it.
    now = datetime.datetime.now(datetime.timezone.utc)
    assert check_installable_root(pem, "ManufacturerRootCertificate", now=now)


def test_expired_and_future_roots_are_refused(root):
    assert _refusal(_pem(root), now=root.not_valid_after_utc + datetime.timedelta(seconds=1)) == "root.expired"
    assert _refusal(_pem(root), now=root.not_valid_before_utc - datetime.timedelta(seconds=1)) == "root.not_yet_valid"


# --- a new root signed by the old one (AdditionalRootCertificateCheck) -------------------------

def _cross(new_key_, new_subject, old_root):
    return (ca_builder(new_subject, old_root.certificate.subject, new_key_, old_root.key, serial=0x71,
                       path_length=None)
            .sign(old_root.key, hash_for(old_root.key)))


def test_new_root_signed_by_the_current_root_is_installable_for_a_rollover(tmp_path):
    old = make_root("ec", serial=0x70)
    key = new_key("ec")
    cross = _cross(key, name("Root G2"), old)
    assert check_installable_rollover_root(_pem(cross), old.certificate, now=NOW)
    # The plain check refuses it: it is not self-signed.
    assert _refusal(_pem(cross)) == "root.not_self_signed"
    result = openssl("verify", "-CAfile", write_pem(tmp_path, "old.pem", old.certificate),
                     write_pem(tmp_path, "cross.pem", cross))
    assert result.returncode == 0, result.stderr + result.stdout


def test_rollover_root_not_signed_by_the_current_root_is_refused():
    old = make_root("ec", serial=0x72)
    other = make_root("ec", serial=0x73)
    self_signed = _self_signed()
    decision = check_installable_rollover_root(_pem(self_signed), old.certificate, now=NOW)
    assert decision.rule == "root.not_signed_by_current"
    # Same issuer name as the station's root, but another key signed it.
    by_other = _cross(new_key("ec"), name("Root G2"), other)
    assert check_installable_rollover_root(_pem(by_other), old.certificate, now=NOW).rule \
        == "root.not_signed_by_current"


def test_the_current_root_itself_is_no_rollover():
    old = make_root("ec", serial=0x74)
    assert check_installable_rollover_root(old.pem.decode(), old.certificate, now=NOW).rule == "root.not_new"


def test_rollover_root_still_needs_keycertsign():
    old = make_root("ec", serial=0x75)
    key = new_key("ec")
    cross = (ca_builder(name("Root G2"), old.certificate.subject, key, old.key, serial=0x76, path_length=None,
                        key_cert_sign=False).sign(old.key, hashes.SHA256()))
    assert check_installable_rollover_root(_pem(cross), old.certificate, now=NOW).rule == "root.no_keycertsign"


# --- the station's capacity ----------------------------------------------------------------------

@pytest.mark.parametrize(("capacity", "installed"), [(None, 9), (5, None), (5, 4), (0, None)])
def test_an_install_that_fits_or_cannot_be_counted_is_allowed(capacity, installed):
    assert check_install_capacity(capacity=capacity, installed=installed, already_installed=False)


@pytest.mark.parametrize("installed", [5, 6])
def test_an_install_into_a_full_station_is_refused_naming_the_numbers(installed):
    decision = check_install_capacity(capacity=5, installed=installed, already_installed=False)
    assert not decision and decision.rule == "install.capacity_full"
    assert f"holds {installed} certificates and can store 5" in decision.reason
    assert "force" in decision.reason


def test_a_certificate_the_full_station_already_holds_takes_no_new_place():
    assert check_install_capacity(capacity=2, installed=2, already_installed=True)


def test_forcing_an_install_into_a_full_station_needs_a_reason():
    for reason in (None, "", "  "):
        refused = check_install_capacity(capacity=1, installed=1, already_installed=False, force=True, reason=reason)
        assert not refused and refused.rule == "install.force_reason"
    forced = check_install_capacity(capacity=1, installed=1, already_installed=False, force=True,
                                    reason="the station's maxLimit is wrong, vendor ticket 7")
    assert forced and forced.rule == INSTALL_FORCED
    assert "install.capacity_full" in forced.reason and "vendor ticket 7" in forced.reason


# --- DeleteCertificate safety ------------------------------------------------------------------

@pytest.fixture(scope="module")
def station_roots():
    g1 = make_root("ec", serial=0x81)
    g2 = make_root("ec", serial=0x82)
    manufacturer = make_root("ec", serial=0x83)
    return g1, g2, manufacturer


def _entry(kind: str, cert: x509.Certificate, algorithm: str = "SHA256") -> InstalledEntry:
    return InstalledEntry(kind, certificate_hash_data(cert, cert, algorithm))


def _served(cert: x509.Certificate) -> list[CertificateHashData]:
    return [certificate_hash_data(cert, cert, a) for a in ("SHA256", "SHA384", "SHA512")]


def test_deleting_the_previous_root_is_allowed(station_roots):
    g1, g2, _ = station_roots
    inventory = [_entry("CSMSRootCertificate", g1.certificate), _entry("CSMSRootCertificate", g2.certificate)]
    decision = check_delete(inventory[0].hash_data, inventory, served_anchor_hashes=_served(g2.certificate))
    assert decision and decision.rule == ""


@pytest.mark.parametrize("algorithm", ["SHA256", "SHA384", "SHA512"])
def test_the_root_anchoring_our_server_certificate_is_protected(station_roots, algorithm):
    g1, g2, _ = station_roots
    inventory = [_entry("CSMSRootCertificate", g1.certificate, algorithm),
                 _entry("CSMSRootCertificate", g2.certificate, algorithm)]
    decision = check_delete(inventory[1].hash_data, inventory, served_anchor_hashes=_served(g2.certificate))
    assert not decision and decision.rule == "delete.served_anchor"


def test_the_last_csms_root_is_protected(station_roots):
    g1, g2, manufacturer = station_roots
    inventory = [_entry("CSMSRootCertificate", g1.certificate),
                 _entry("ManufacturerRootCertificate", manufacturer.certificate)]
    decision = check_delete(inventory[0].hash_data, inventory, served_anchor_hashes=_served(g2.certificate))
    assert not decision and decision.rule == "delete.last_csms_root"


def test_a_lone_manufacturer_root_may_go(station_roots):
    g1, g2, manufacturer = station_roots
    inventory = [_entry("CSMSRootCertificate", g2.certificate),
                 _entry("ManufacturerRootCertificate", manufacturer.certificate)]
    assert check_delete(inventory[1].hash_data, inventory, served_anchor_hashes=_served(g2.certificate))


def test_station_spelling_of_the_hash_data_is_recognised(station_roots):
    """Stations differ in hex case and leading zeros; the entry is still found and protected."""
    _, g2, _ = station_roots
    exact = certificate_hash_data(g2.certificate, g2.certificate)
    as_reported = CertificateHashData(exact.hash_algorithm, exact.issuer_name_hash.upper(),
                                      exact.issuer_key_hash.upper(), "00" + exact.serial_number.upper())
    inventory = [InstalledEntry("CSMSRootCertificate", as_reported)]
    decision = check_delete(as_reported, inventory, served_anchor_hashes=_served(g2.certificate))
    assert decision.rule == "delete.served_anchor"


def test_forcing_needs_a_reason_and_is_marked_forced(station_roots):
    g1, g2, _ = station_roots
    inventory = [_entry("CSMSRootCertificate", g2.certificate)]
    target = inventory[0].hash_data
    served = _served(g2.certificate)
    for reason in (None, "", "   "):
        refused = check_delete(target, inventory, served_anchor_hashes=served, force=True, reason=reason)
        assert not refused and refused.rule == "delete.force_reason"
    forced = check_delete(target, inventory, served_anchor_hashes=served, force=True,
                          reason="root key compromised, ticket SEC-42")
    assert forced and forced.rule == FORCED
    assert "delete.served_anchor" in forced.reason and "delete.last_csms_root" in forced.reason
    assert "ticket SEC-42" in forced.reason


def test_an_uninstalled_certificate_cannot_be_deleted_even_by_force(station_roots):
    g1, g2, _ = station_roots
    inventory = [_entry("CSMSRootCertificate", g2.certificate)]
    target = certificate_hash_data(g1.certificate, g1.certificate)
    decision = check_delete(target, inventory, served_anchor_hashes=[], force=True, reason="cleanup")
    assert not decision and decision.rule == "delete.not_in_inventory"
