"""Where a page of meter values ended, as the text a client hands back for the next page."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from api.csms.meter_values.service import Position


@pytest.mark.parametrize("at", [datetime(2026, 12, 6, 1, 2, 3, 456789, tzinfo=timezone.utc),
                                datetime(1, 1, 1, tzinfo=timezone.utc),
                                datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
                                datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)])
def test_a_position_comes_back_from_its_token_to_the_microsecond(at):
    position = Position(at, 2**63 - 1)
    assert Position.of_token(position.token()) == position


def test_a_token_is_url_safe():
    assert Position(datetime(1, 1, 1, tzinfo=timezone.utc), 5).token() == "-62135596800000000.5"


@pytest.mark.parametrize("text", ["", "5", ".5", "5.", "+5.5", "5.-5", "٣.5", "5.5 ", "5.5\n", "1.2.3"])
def test_other_text_is_no_position(text):
    with pytest.raises(ValueError, match="not a position"):
        Position.of_token(text)
