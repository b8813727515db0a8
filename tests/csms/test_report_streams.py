"""Where a part falls in its stream (api/csms/report_streams.py ``place``): the one decision the
device model's NotifyReport tracking and the other report streams share; and what the streams'
rows hold of what a station or an operator sends at the schemas' edges, on both databases."""

from __future__ import annotations

import json

import pytest
from conftest import make_context
from fake_connection import FakeStation, register, rows

from api.core.audit import run_in_session
from api.csms import report_streams
from api.csms.customer_information import service as customer_information
from api.csms.display import service as display
from api.csms.monitoring import service as monitoring
from api.csms.report_streams import place
from storage.report_requests import ReportRequest


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


# --- the rows a stream keeps, on both databases -------------------------------------------------

@pytest.fixture
def any_ctx(tmp_path, db_url, monkeypatch):
    made = make_context(tmp_path, db_url, monkeypatch)
    yield made
    made.engine.dispose()


@pytest.mark.parametrize(("action", "stream", "part"), [
    ("NotifyCustomerInformation", customer_information.STREAM,
     {"data": "x", "generatedAt": "2025-06-01T12:00:00Z"}),
    ("NotifyMonitoringReport", monitoring.REPORT, {"generatedAt": "2025-06-01T12:00:00Z"}),
])
async def test_a_part_at_the_highest_seq_no_is_counted_not_refused(any_ctx, action, stream, part):
    # The seqNo expected next, one past 2^31-1, was beyond the column's 32 bits on PostgreSQL: the
    # part was answered GenericError (storage.value) and lost, though the schema allows it.
    register(any_ctx, "RS-FAR")
    run_in_session(any_ctx, lambda session: stream.requested(session, "RS-FAR", "token:t", {
        "requestId": 1, "report": True, "clear": False, "customerIdentifier": "0815"}))
    station = FakeStation(any_ctx, "RS-FAR")
    assert await station.send(action, {**part, "requestId": 1, "seqNo": 2**31 - 1, "tbc": False}) == {}
    (request,) = rows(any_ctx, ReportRequest)
    assert (request.parts, request.gap, request.complete) == (1, True, False)


async def test_a_request_asking_more_than_its_record_holds_is_kept_without_it(any_ctx):
    # 2,000 message ids are a valid GetDisplayMessages; their JSON passed the subject column's 4,000
    # characters, and PostgreSQL refused the request (422 storage.value) where SQLite sent it.
    register(any_ctx, "RS-BIG")
    ids = list(range(2000))
    run_in_session(any_ctx, lambda session: display.REPORT.requested(session, "RS-BIG", "token:t",
                                                                     {"requestId": 1, "id": ids}))
    (request,) = rows(any_ctx, ReportRequest)
    assert report_streams.subject(request) == {"omitted": f"{len(json.dumps({'id': ids}, separators=(',', ':')))} "
                                                          "characters"}
