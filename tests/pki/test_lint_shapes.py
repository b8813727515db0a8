"""One pkilint run per certificate shape (pki/lint_shapes.py): certificates of one shape differ only in
serial, CN, EC key and SKI; anything else is another shape or none, and is linted in full."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from csr_factory import new_key

from pki import lint, profiles
from pki.lint_shapes import LintedShapes, shape_of
from pki.serials import random_serial

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
CA_KEY = new_key()
CA = (profiles.root_ca(profiles.name("Shape Root", "Test CSO"), CA_KEY.public_key(),
                       profiles.Validity.starting(NOW, 3650, 0))
      .serial_number(random_serial()).sign(CA_KEY, hashes.SHA256()))
URLS = profiles.PublicUrls("http://ca.test")


def leaf(station: str, key=None, *, days: int = 365) -> x509.CertificateBuilder:
    # The top bit set: a serial's length is part of its shape (1 in 256 random ones is shorter,
    # and is linted in full), so these tests hold whatever is drawn.
    return profiles.charging_station(station, "Test CSO", (key or new_key()).public_key(),
                                     profiles.Validity.starting(NOW, days, 5), CA, "ca-1", URLS
                                     ).serial_number(random_serial() | 1 << 126)


def tbs(builder: x509.CertificateBuilder) -> bytes:
    return builder.sign(CA_KEY, hashes.SHA256()).tbs_certificate_bytes


def test_stations_of_one_id_length_share_a_shape_and_nothing_else_does():
    shape = shape_of(tbs(leaf("CP-0001")))
    assert shape is not None
    assert shape_of(tbs(leaf("CP-0002"))) == shape          # other CN, key, serial, SKI
    assert shape_of(tbs(leaf("CP-00003"))) != shape         # a longer CN: another shape
    assert shape_of(tbs(leaf("CP-0004", days=30))) != shape  # another validity
    assert shape_of(tbs(leaf("CP-0005", new_key("ec-p384")))) != shape


@pytest.mark.parametrize("builder", [
    lambda: leaf("CP-0001", new_key("rsa-2048")),           # RSA: the key is not blanked
    lambda: leaf("CP 0001"),                                  # a CN outside identifierString
])
def test_what_has_no_shape_is_linted_in_full(builder):
    assert shape_of(tbs(builder())) is None


def test_a_bad_certificate_is_refused_although_a_good_one_was_linted_before():
    shapes = LintedShapes()
    lint.sign_linted(leaf("CP-0001"), CA_KEY, hashes.SHA256(), shapes=shapes)
    assert shape_of(tbs(leaf("CP-0002"))) in shapes
    # A changed profile is a changed shape, so it meets pkilint.
    key = new_key()
    unusual = profiles._base(profiles.name("CP-0004", "Test CSO"), CA.subject, key.public_key(),
                             profiles.Validity.starting(NOW, 365, 5)).serial_number(random_serial())
    with pytest.raises(lint.LintError):   # no AKI in a certificate issued by another: pkilint finds it
        lint.sign_linted(unusual, CA_KEY, hashes.SHA256(), shapes=shapes)
