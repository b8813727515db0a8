"""Where a part falls in its stream (api/csms/report_streams.py ``place``): the one decision the
device model's NotifyReport tracking and the other report streams share."""

from __future__ import annotations

from api.csms.report_streams import place


def test_a_part_in_order_is_in_order_and_the_last_one_ends_the_stream():
    assert place(3, True, range(3)).in_order
    ended = place(3, False, range(3))
    assert ended.in_order and ended.last_seq_no == 3 and ended.missing_count == 0


def test_a_part_sent_twice_and_one_below_the_highest_are_out_of_order():
    assert place(1, True, {0, 1, 2}).duplicate
    late = place(1, True, {0, 2})
    assert late.out_of_order and not late.duplicate and late.missing_count == 0


def test_missing_parts_are_those_below_the_highest_then_up_to_the_last():
    assert place(5, True, {0, 1}).missing == (2, 3, 4)
    # The last part came early (seqNo 6, tbc false): 5 is missing too once it is known as last.
    assert place(2, True, {0, 6}, last_seq_no=6).missing == (1, 3, 4, 5)
    assert place(9, False, range(2), shown=3).missing == (2, 3, 4) and place(9, False, range(2)).missing_count == 7


def test_a_far_seq_no_is_counted_not_walked():
    # A station may send any 32-bit seqNo; walking up to it would hold the worker for minutes.
    far = place(2**31 - 1, True, range(5), shown=2)
    assert far.missing_count == 2**31 - 6 and far.missing == (5, 6)
    assert place(7, True, range(2**31 - 1), shown=0).duplicate
