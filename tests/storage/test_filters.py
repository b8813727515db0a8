"""storage.filters.in_lists: long lists of keys cut for ``IN`` lists."""

from __future__ import annotations

import pytest

from storage.filters import KEYS_PER_STATEMENT, in_lists

pytestmark = pytest.mark.fast


def test_keys_come_back_whole_in_order_in_lists_of_at_most_the_size():
    keys = [f"CS-{n}" for n in range(2 * KEYS_PER_STATEMENT + 1)]
    lists = list(in_lists(keys))
    assert [len(part) for part in lists] == [KEYS_PER_STATEMENT, KEYS_PER_STATEMENT, 1]
    assert [key for part in lists for key in part] == keys


def test_any_iterable_and_no_keys():
    assert list(in_lists(iter(range(5)), size=2)) == [[0, 1], [2, 3], [4]]
    assert list(in_lists([])) == []


def test_a_list_of_no_keys_is_refused_by_name():
    with pytest.raises(ValueError, match="at least 1 key"):
        list(in_lists([1], size=0))
