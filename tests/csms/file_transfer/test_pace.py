"""The file service's shared transfer pace, on a clock the test moves."""

from __future__ import annotations

import pytest

from api.csms.file_transfer.pace import TransferPace, pace_of
from policies.model import FileTransferPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_goes_at_once_and_what_is_beyond_it_waits_its_share_of_a_second():
    clock = Clock()
    pace = TransferPace(1_000_000, burst=100_000, clock=clock)
    assert pace.reserve(100_000) == 0.0
    assert pace.reserve(50_000) == pytest.approx(0.05)
    assert pace.reserve(50_000) == pytest.approx(0.10)


def test_every_transfer_reserves_on_one_timeline():
    clock = Clock()
    pace = TransferPace(1_000_000, burst=0, clock=clock)
    first = pace.reserve(250_000)      # one station's chunk
    second = pace.reserve(250_000)     # another's, at the same moment: queued behind the first
    assert (first, second) == (pytest.approx(0.25), pytest.approx(0.5))


def test_time_passing_frees_the_timeline_but_idle_time_is_not_saved_up():
    clock = Clock()
    pace = TransferPace(1_000_000, burst=100_000, clock=clock)
    assert pace.reserve(300_000) == pytest.approx(0.2)
    clock.now += 0.3                    # the reserved bytes are moved
    assert pace.reserve(100_000) == 0.0
    clock.now += 60                     # a quiet minute buys no more than the burst
    assert pace.reserve(100_000) == 0.0
    assert pace.reserve(100_000) == pytest.approx(0.1)


def test_the_default_burst_is_a_tenth_of_a_second():
    pace = TransferPace(1_000_000, clock=Clock())
    assert pace.reserve(100_000) == 0.0
    assert pace.reserve(1_000) > 0


def test_a_pace_below_one_byte_per_second_is_refused_by_name():
    with pytest.raises(ValueError, match="at least 1 byte per second, not 0"):
        TransferPace(0)


def test_the_policy_figure_is_megabytes_per_second_and_zero_is_no_cap():
    assert pace_of(0) is None
    assert pace_of(20).bytes_per_second == 20_000_000
    assert FileTransferPolicy().max_megabytes_per_second == 20
    with pytest.raises(ValueError, match="max_megabytes_per_second must be 0 \\(no cap\\) or more"):
        FileTransferPolicy(max_megabytes_per_second=-1)
