"""Provisioning decisions: a value checked against the characteristics a station reported,
the heartbeat interval within its limits, the onboarding baseline."""

from __future__ import annotations

import pytest

from policies.model import OnboardingPolicy
from policies.provisioning import Characteristics, baseline, baseline_value, check_value, heartbeat_interval

pytestmark = pytest.mark.fast

INTEGER = Characteristics("integer", 1, 10)


@pytest.mark.parametrize(("value", "known", "rule"), [
    ("5", INTEGER, None),
    ("0", INTEGER, "variables.min_limit"),
    ("11", INTEGER, "variables.max_limit"),
    ("five", INTEGER, "variables.data_type"),
    ("5", Characteristics("integer", mutability="ReadOnly"), "variables.read_only"),
    ("1.5", Characteristics("decimal", 0, 2), None),
    ("yes", Characteristics("boolean"), "variables.data_type"),
    ("true", Characteristics("boolean"), None),
    ("NTP", Characteristics("OptionList", values_list="NTP,Heartbeat"), None),
    ("GPS", Characteristics("OptionList", values_list="NTP,Heartbeat"), "variables.values_list"),
    ("NTP,Heartbeat", Characteristics("SequenceList", values_list="NTP,Heartbeat"), None),
    ("NTP,GPS", Characteristics("MemberList", values_list="NTP,Heartbeat"), "variables.values_list"),
    ("abcdef", Characteristics("string", max_limit=5), "variables.max_limit"),
    ("2025-01-01T00:00:00Z", Characteristics("dateTime"), None),
    ("soon", Characteristics("dateTime"), "variables.data_type"),
    ("anything", Characteristics(), None),
])
def test_values_against_the_reported_characteristics(value, known, rule):
    decision = check_value("C.V", value, known)
    assert (None if decision else decision.rule) == rule
    if rule:
        assert "C.V" in decision.reason


def test_a_refusal_names_the_variable_and_the_limit():
    decision = check_value("OCPPCommCtrlr.HeartbeatInterval", "300", INTEGER)
    assert decision.rule == "variables.max_limit" and "maxLimit 10" in decision.reason \
        and "OCPPCommCtrlr.HeartbeatInterval" in decision.reason


def test_the_heartbeat_interval_within_the_stations_limits():
    assert heartbeat_interval(300, 1, 10) == 10
    assert heartbeat_interval(300, None, None) == 300
    assert heartbeat_interval(5, 30, 600) == 30


def test_baseline_integers_are_clamped_and_others_kept():
    entries = baseline(("OCPPCommCtrlr.HeartbeatInterval=300", "ClockCtrlr.TimeSource=NTP,Heartbeat"))
    assert baseline_value(entries[0], INTEGER) == "10"
    assert baseline_value(entries[1], Characteristics("SequenceList")) == "NTP,Heartbeat"


def test_a_baseline_entry_must_name_component_variable_and_value():
    with pytest.raises(ValueError, match="Component.Variable=value"):
        OnboardingPolicy(baseline=("HeartbeatInterval",))
