"""NotifyDisplayMessages called directly (no socket), on a real SQLite database: kept only for a
GetDisplayMessages we sent, its parts counted without a seqNo, at most MESSAGES_MAX per station."""

from __future__ import annotations

import pytest
from fake_connection import FakeStation, register, rows

from api.core.audit import run_in_session
from api.csms.display import service
from storage.display_messages import DisplayMessage
from storage.report_requests import ReportRequest

pytestmark = pytest.mark.fast


def _info(message_id: int) -> dict:
    return {"id": message_id, "priority": "NormalCycle", "message": {"format": "ASCII", "content": f"m{message_id}"}}


async def test_a_report_we_never_asked_for_is_not_kept(ctx):
    register(ctx, "DM-1")
    answer = await FakeStation(ctx, "DM-1").send("NotifyDisplayMessages", {"requestId": 4, "messageInfo": [_info(1)]})
    assert answer == {} and rows(ctx, DisplayMessage) == []


async def test_parts_count_in_order_and_the_bound_holds(ctx, monkeypatch):
    monkeypatch.setattr(service, "MESSAGES_MAX", 2)
    register(ctx, "DM-2")
    run_in_session(ctx, lambda session: service.REPORT.requested(session, "DM-2", "token:t", {"requestId": 1}))
    station = FakeStation(ctx, "DM-2")
    assert await station.send("NotifyDisplayMessages", {"requestId": 1, "tbc": True,
                                                        "messageInfo": [_info(1), _info(2)]}) == {}
    assert await station.send("NotifyDisplayMessages", {"requestId": 1, "messageInfo": [_info(3)]}) == {}
    assert [(m.message_id, m.origin, m.status) for m in rows(ctx, DisplayMessage)] == [
        (1, "station", "reported"), (2, "station", "reported")]
    (request,) = rows(ctx, ReportRequest)
    assert (request.parts, request.complete, request.gap) == (2, True, False)
