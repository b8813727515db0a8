"""How an officer's policy.toml meets the packaged defaults: key by key (README, "Configuration")."""

from __future__ import annotations

import pytest

from policies.loader import PolicyError, load_policy

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



# A careless or hostile policy.toml: each is refused at load, naming the key, never taken as the
# default or carried to the first pass that trips on it (OverflowError in a prune, a TypeError
# joining the cipher list, a listener that only serve would refuse).
@pytest.mark.parametrize(("text", "named"), [
    ('[tls]\nmin_version = "TLSv1.1"\n', "tls.version_too_low"),
    ('[tls]\ntls12_ciphers = []\n', "tls.mandatory_suites"),
    ('[tls]\ntls12_ciphers = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", '
     '"AES128-GCM-SHA256", "AES256-GCM-SHA384", "DES-CBC3-SHA"]\n', "tls.cipher"),
    ('[tls]\ntls13_ciphersuites = ["TLS_AES_128_GCM_SHA256", 5]\n', "[tls].tls13_ciphersuites must list str"),
    ('[keys]\nrsa_min_bits = 1024\n', "[keys].rsa_min_bits = 1024"),
    ('[keys]\nrsa_max_bits = 65536\n', "[keys].rsa_max_bits"),
    ('[keys]\nec_curves = ["secp192r1"]\n', "[keys].ec_curves: secp192r1"),
    ('[keys]\nca_key = "rsa-1024"\n', "[keys].ca_key"),
    ('[keys]\nserver_rsa_key = "ec-p256"\n', "[keys].server_rsa_key"),
    ('[chain]\nmax_chars = 0\n', "[chain].max_chars"),
    ('[chain]\nmax_chars = -1\n', "[chain].max_chars"),
    ('[chain]\nmax_chars = 20000\n', "[chain].max_chars"),
    ('[csr]\nmax_chars = 0\n', "[csr].max_chars"),
    ('[validity]\nstation_days = -1\n', "[validity].station_days"),
    ('[validity]\nstation_days = 100000000\n', "[validity].station_days"),
    ('[validity]\nbackdate_minutes = -5\n', "[validity].backdate_minutes"),
    ('[security_events]\nretention_days = 1000000000000000\n', "[security_events].retention_days"),
    ('[message_log]\nretention_days = 1000000000000000000000000000000\n', "[message_log].retention_days"),
    ('[logs]\nretention_days = 10000000\n', "[logs].retention_days"),
    ('[admission]\nfailure_delay_seconds = nan\n', "[admission].failure_delay_seconds"),
    ('[admission]\nrefusal_flush_seconds = inf\n', "[admission].refusal_flush_seconds"),
    ('[onboarding]\nbaseline = [1]\n', "[onboarding].baseline"),
])
def test_a_hostile_policy_file_is_refused_naming_the_key(tmp_path, text, named):
    override = tmp_path / "policy.toml"
    override.write_text(text)
    with pytest.raises(PolicyError) as refused:
        load_policy(override)
    assert named in str(refused.value)


def test_a_policy_file_that_is_no_utf8_is_refused_naming_the_file(tmp_path):
    override = tmp_path / "policy.toml"
    override.write_bytes(b'[tls]\nmin_version = "\xff"\n')
    with pytest.raises(PolicyError, match="policy.toml"):
        load_policy(override)


def test_the_shipped_defaults_pass_every_check():
    assert load_policy(None).keys.ec_curves == ("secp256r1", "secp384r1")
