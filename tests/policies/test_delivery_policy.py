"""The [delivery] and [renewal] policy: defaults, overrides, refused values, back-off and pace."""

from __future__ import annotations

from datetime import timedelta

import pytest

from policies.chain import station_max_plausible
from policies.delivery import may_try_again, renewal_spacing, retry_delay
from policies.loader import PolicyError, default_policy_data, load_policy, parse_policy
from policies.model import DeliveryPolicy, OutagePolicy, RenewalPolicy

pytestmark = pytest.mark.fast


def test_the_shipped_defaults():
    policy = load_policy()
    assert policy.delivery == DeliveryPolicy(max_attempts=5, backoff_seconds=30, revoke_superseded_after_hours=24)
    assert policy.renewal == RenewalPolicy(window_days=30, max_per_minute=60, in_flight_hours=24)
    assert policy.outage == OutagePolicy(max_spooled_events=10000, retry_seconds=5)


def test_an_officer_overrides_keys_table_by_table(tmp_path):
    override = tmp_path / "policy.toml"
    override.write_text("[delivery]\nmax_attempts = 2\n\n[renewal]\nwindow_days = 45\nmax_per_minute = 0\n")
    policy = load_policy(override)
    assert (policy.delivery.max_attempts, policy.delivery.backoff_seconds) == (2, 30)
    assert (policy.renewal.window_days, policy.renewal.max_per_minute) == (45, 0)


@pytest.mark.parametrize("data", [{"delivery": {"max_attempts": 0}}, {"delivery": {"backoff_seconds": -1}},
                                  {"renewal": {"window_days": -3}}, {"outage": {"retry_seconds": 0}},
                                  {"outage": {"max_spooled_events": -1}}])
def test_values_that_make_no_sense_are_refused(data):
    with pytest.raises(ValueError, match=r"\[(delivery|renewal|outage)\]"):
        parse_policy(data, default_policy_data())


def test_an_unknown_key_is_refused():
    with pytest.raises(PolicyError, match=r"\[delivery\].retries"):
        parse_policy({"delivery": {"retries": 3}}, default_policy_data())


def test_back_off_doubles_and_is_capped():
    policy = DeliveryPolicy(backoff_seconds=30)
    assert [retry_delay(policy, n) for n in (1, 2, 3)] == [timedelta(seconds=30), timedelta(seconds=60),
                                                           timedelta(seconds=120)]
    assert retry_delay(policy, 40) == timedelta(hours=6)
    assert retry_delay(DeliveryPolicy(backoff_seconds=0), 3) == timedelta(0)


def test_attempts_stop_at_max_attempts_with_the_rule_named():
    policy = DeliveryPolicy(max_attempts=3)
    assert may_try_again(policy, 2)
    refused = may_try_again(policy, 3)
    assert not refused and refused.rule == "delivery.max_attempts" and "3 attempts" in refused.reason


def test_the_fleet_pace():
    assert renewal_spacing(RenewalPolicy(max_per_minute=60)) == timedelta(seconds=1)
    assert renewal_spacing(RenewalPolicy(max_per_minute=4)) == timedelta(seconds=15)
    assert renewal_spacing(RenewalPolicy(max_per_minute=0)) == timedelta(0)  # no limit


LEAF = "-----BEGIN CERTIFICATE-----\n" + "A" * 64 + "\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize(("station_max", "plausible"), [(0, False), (len(LEAF) - 2, False), (len(LEAF) - 1, True),
                                                         (10000, True)])
def test_a_max_chain_size_below_the_leaf_alone_is_implausible(station_max, plausible):
    decision = station_max_plausible(LEAF + LEAF, station_max)
    assert bool(decision) is plausible
    if not plausible:
        assert decision.rule == "chain.station_max_implausible" and f"of {station_max}" in decision.reason
