"""Block N handlers called directly (no socket): NotifyEvent and NotifyCustomerInformation
(LogStatusNotification: tests/csms/logs)."""

from __future__ import annotations

import logging

import pytest
from fake_connection import FakeStation

pytestmark = pytest.mark.fast

NOW = "2025-06-01T12:00:00Z"


def _event(component: dict, variable: str, value: str, event_id: int = 1) -> dict:
    return {"eventId": event_id, "timestamp": NOW, "trigger": "Delta", "actualValue": value,
            "eventNotificationType": "HardWiredNotification", "component": component, "variable": {"name": variable}}


async def test_connector_availability_events_update_the_live_connector_status(ctx):
    # TC_G_20: availability may arrive as NotifyEvent instead of StatusNotification.
    station = FakeStation(ctx, "CS-1")
    answer = await station.send("NotifyEvent", {"generatedAt": NOW, "seqNo": 0, "eventData": [
        _event({"name": "Connector", "evse": {"id": 2, "connectorId": 1}}, "AvailabilityState", "Unavailable"),
        _event({"name": "Connector", "evse": {"id": 1, "connectorId": 1}}, "Temperature", "90", 2),
        _event({"name": "EVSE", "evse": {"id": 1}}, "AvailabilityState", "Faulted", 3),
    ]})
    assert answer == {}
    assert station.live.connectors == {(2, 1): "Unavailable"}


async def test_customer_information_is_acknowledged_without_its_data_in_the_log(ctx, caplog):
    caplog.set_level(logging.DEBUG)
    payload = {"data": "Jane Doe, card 04A1B2C3", "seqNo": 1, "tbc": True, "generatedAt": NOW, "requestId": 5}
    assert await FakeStation(ctx, "CS-1").send("NotifyCustomerInformation", payload) == {}
    assert "customer information 5 part 1 from CS-1" in caplog.messages
    assert not any("Jane" in message or "04A1B2C3" in message for message in caplog.messages)
