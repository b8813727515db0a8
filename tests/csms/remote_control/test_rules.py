"""The F, G and H operator-call rules (api/csms/call_rules.py), pure: what leaves and what is
refused by name, whichever door sends it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from api.csms.call_rules import (
    CHECKED,
    KnownTransaction,
    call_rule,
    check_availability,
    check_remote_start,
    check_remote_stop,
    check_reservation,
    check_trigger,
    check_unlock,
)

pytestmark = pytest.mark.fast

_PROFILE = {"id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
            "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
                                  "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]}]}


@pytest.mark.parametrize("action", ["RequestStartTransaction", "RequestStopTransaction", "TriggerMessage",
                                    "ChangeAvailability", "UnlockConnector", "ReserveNow"])
def test_these_actions_are_checked_on_every_door(action):
    rule = call_rule(action, {})
    assert rule.door == CHECKED and rule.role == "operator"


def test_a_remote_start_profile_must_be_a_tx_profile_without_transaction():
    assert check_remote_start({"remoteStartId": 1})
    assert check_remote_start({"remoteStartId": 1, "evseId": 0}).rule == "call.remote_start.evse"
    assert check_remote_start({"chargingProfile": _PROFILE})
    assert check_remote_start({"chargingProfile": {**_PROFILE, "chargingProfilePurpose": "TxDefaultProfile"}}).rule \
        == "call.remote_start.profile_purpose"
    assert check_remote_start({"chargingProfile": {**_PROFILE, "transactionId": "T-1"}}).rule \
        == "call.remote_start.profile_transaction"


def test_a_remote_stop_needs_a_running_transaction_we_know():
    assert check_remote_stop("T-1", KnownTransaction(ended=False))
    assert check_remote_stop("T-1", None).rule == "call.remote_stop.unknown_transaction"
    assert check_remote_stop("T-1", KnownTransaction(ended=True)).rule == "call.remote_stop.ended"


@pytest.mark.parametrize(("payload", "allowed"), [
    ({"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 2}}, True),
    ({"requestedMessage": "StatusNotification", "evse": {"id": 1}}, False),
    ({"requestedMessage": "StatusNotification"}, False),
    ({"requestedMessage": "MeterValues"}, True),
    ({"requestedMessage": "TransactionEvent", "evse": {"id": 1}}, True),
])
def test_a_status_notification_trigger_names_its_connector(payload, allowed):
    decision = check_trigger(payload)
    assert bool(decision) is allowed
    assert allowed or decision.rule == "call.trigger.evse"


def test_availability_of_evse_zero_is_refused_the_station_has_no_evse():
    assert check_availability({"operationalStatus": "Inoperative"})
    assert check_availability({"operationalStatus": "Inoperative", "evse": {"id": 1, "connectorId": 1}})
    assert check_availability({"operationalStatus": "Inoperative", "evse": {"id": 0}}).rule \
        == "call.availability.evse"


@pytest.mark.parametrize(("evse_id", "connector_id"), [(0, 1), (1, 0), (-1, 1), (1, -2)])
def test_an_unlock_names_a_real_connector_of_a_real_evse(evse_id, connector_id):
    assert check_unlock({"evseId": 1, "connectorId": 1})
    assert check_unlock({"evseId": evse_id, "connectorId": connector_id}).rule == "call.unlock.connector"


def test_a_reservation_expires_in_the_future_on_a_real_evse():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert check_reservation({"evseId": 1}, now + timedelta(minutes=1), now)
    assert check_reservation({}, now, now).rule == "call.reservation.expiry"
    assert check_reservation({"evseId": 0}, now + timedelta(minutes=1), now).rule == "call.reservation.evse"
