"""NotifyCustomerInformation called directly (no socket), on a real SQLite database: parts kept
under the request they answer, completeness (gaps, duplicates), nothing kept for a request we
never sent, the bound per request and the retention; the request rule (N09.FR.09)."""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta

import pytest
from fake_connection import FakeStation, register, rows

from api.core.audit import run_in_session
from api.csms.customer_information import service
from api.csms.customer_information.retention import prune_customer_information
from policies.model import CustomerInformationPolicy
from storage.customer_information import CustomerInformationPart
from storage.report_requests import ReportRequest
from storage.types import utcnow

pytestmark = pytest.mark.fast

NOW = "2025-06-01T12:00:00Z"


def _ask(ctx, station_id: str, request_id: int) -> None:
    run_in_session(ctx, lambda session: service.STREAM.requested(session, station_id, "token:t", {
        "requestId": request_id, "report": True, "clear": False, "customerIdentifier": "0815"}))


def _part(request_id: int, seq_no: int, tbc: bool, data: str = "x") -> dict:
    return {"data": data, "seqNo": seq_no, "tbc": tbc, "generatedAt": NOW, "requestId": request_id}


def _request(ctx, station_id: str, request_id: int) -> ReportRequest:
    (row,) = rows(ctx, ReportRequest, ReportRequest.station_id == station_id, ReportRequest.request_id == request_id)
    return row


async def test_parts_in_order_complete_the_request(ctx):
    register(ctx, "CI-1")
    _ask(ctx, "CI-1", 3)
    station = FakeStation(ctx, "CI-1")
    assert await station.send("NotifyCustomerInformation", _part(3, 0, True, "Jane ")) == {}
    assert not _request(ctx, "CI-1", 3).complete
    assert await station.send("NotifyCustomerInformation", _part(3, 1, False, "Doe")) == {}

    request = _request(ctx, "CI-1", 3)
    assert (request.parts, request.complete, request.gap) == (2, True, False)
    _kept, parts = run_in_session(ctx, lambda session: service.one(session, "CI-1", 3))
    assert "".join(p.data for p in parts) == "Jane Doe"


async def test_a_missing_or_repeated_part_leaves_the_request_incomplete(ctx):
    register(ctx, "CI-2")
    _ask(ctx, "CI-2", 1)
    _ask(ctx, "CI-2", 2)
    station = FakeStation(ctx, "CI-2")
    await station.send("NotifyCustomerInformation", _part(1, 1, False))     # part 0 never came
    await station.send("NotifyCustomerInformation", _part(2, 0, True, "first"))
    await station.send("NotifyCustomerInformation", _part(2, 0, False, "again"))

    assert (_request(ctx, "CI-2", 1).complete, _request(ctx, "CI-2", 1).gap) == (False, True)
    assert (_request(ctx, "CI-2", 2).complete, _request(ctx, "CI-2", 2).gap) == (False, True)
    kept = rows(ctx, CustomerInformationPart, CustomerInformationPart.report_id == _request(ctx, "CI-2", 2).id)
    assert [p.data for p in kept] == ["first"]


async def test_data_for_a_request_never_sent_is_not_kept_nor_logged(ctx, caplog):
    caplog.set_level(logging.DEBUG)
    register(ctx, "CI-3")
    answer = await FakeStation(ctx, "CI-3").send("NotifyCustomerInformation", _part(99, 0, False, "Jane Doe"))
    assert answer == {}
    assert rows(ctx, CustomerInformationPart) == [] and rows(ctx, ReportRequest) == []
    assert any("99, which we never sent" in m for m in caplog.messages)
    assert not any("Jane" in m for m in caplog.messages)


async def test_parts_beyond_the_policy_are_not_kept(ctx):
    bounded = dataclasses.replace(ctx, policy=dataclasses.replace(
        ctx.policy, customer_information=CustomerInformationPolicy(parts_per_request=2)))
    register(ctx, "CI-4")
    _ask(ctx, "CI-4", 1)
    station = FakeStation(bounded, "CI-4")
    for seq_no in range(4):
        assert await station.send("NotifyCustomerInformation", _part(1, seq_no, seq_no < 3)) == {}
    assert len(rows(ctx, CustomerInformationPart)) == 2
    assert _request(ctx, "CI-4", 1).parts == 4  # counted, so the report is known to be complete but cut


async def test_retention_deletes_old_requests_with_their_data(ctx):
    register(ctx, "CI-5")
    _ask(ctx, "CI-5", 1)
    _ask(ctx, "CI-5", 2)
    await FakeStation(ctx, "CI-5").send("NotifyCustomerInformation", _part(1, 0, False))

    def age(session):
        old = session.get(ReportRequest, _request(ctx, "CI-5", 1).id)
        old.requested_at = utcnow() - timedelta(days=ctx.policy.customer_information.retention_days + 1)
        session.add(old)
    run_in_session(ctx, age)

    assert prune_customer_information(ctx) == 1
    assert [r.request_id for r in rows(ctx, ReportRequest)] == [2] and rows(ctx, CustomerInformationPart) == []


@pytest.mark.parametrize(("payload", "rule"), [
    ({"report": True, "clear": False, "customerIdentifier": "0815"}, None),
    ({"report": False, "clear": True, "idToken": {"idToken": "A", "type": "Central"}}, None),
    ({"report": True, "clear": False}, "call.customer_information.identifier"),
    ({"report": True, "clear": False, "customerIdentifier": "0815", "idToken": {"idToken": "A", "type": "Central"}},
     "call.customer_information.identifier"),
    ({"report": False, "clear": False, "customerIdentifier": "0815"}, "call.customer_information.nothing"),
])
def test_request_rule(payload, rule):
    decision = service.check_request({"requestId": 1, **payload})
    assert (decision.rule if not decision else None) == rule
