"""How an officer's policy.toml meets the packaged defaults: key by key (README, "Configuration")."""

from __future__ import annotations

import pytest

from policies.loader import load_policy

pytestmark = pytest.mark.fast


def test_an_override_replaces_only_the_keys_it_names(tmp_path):
    defaults = load_policy(None)
    override = tmp_path / "policy.toml"
    override.write_text("[keys]\nrsa_min_bits = 3072\nec_curves = [\"secp384r1\"]\n")
    policy = load_policy(override)
    # The named keys: a list replaces the default list, it is not added to it.
    assert (policy.keys.rsa_min_bits, policy.keys.ec_curves) == (3072, ("secp384r1",))
    # The same table's other keys keep their defaults: the table is not replaced as a whole ...
    assert policy.keys.rsa_max_bits == defaults.keys.rsa_max_bits
    # ... and the tables the file does not name are the defaults.
    assert (policy.tls, policy.delivery, policy.admission) == (defaults.tls, defaults.delivery, defaults.admission)

