"""Block C handlers called directly (no socket): Authorize and TransactionEvent answered from the
token store — every status, expiry, EVSE restriction, groups, master pass, what is passed on."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fake_connection import FakeStation, register
from ocpp.v201.enums import AuthorizationStatusEnumType

from api.core.audit import Actor
from api.operations import id_tokens

pytestmark = pytest.mark.fast

OFFICER = Actor("cli:test", "officer")


def _add(ctx, value: str, token_type: str = "ISO14443", **fields):
    return id_tokens.add_token(ctx, OFFICER, {"id_token": value, "type": token_type, **fields})


async def _authorize(ctx, value: str, token_type: str = "ISO14443", station: str = "CS-1", **extra) -> dict:
    return await FakeStation(ctx, station).send("Authorize", {"idToken": {"idToken": value, "type": token_type},
                                                              **extra})


@pytest.mark.parametrize("token_type", ["ISO14443", "eMAID", "Central", "MacAddress"])
async def test_a_token_nobody_registered_is_unknown(ctx, token_type):
    assert await _authorize(ctx, "04A1B2C3", token_type) == {"idTokenInfo": {"status": "Unknown"}}


async def test_no_authorization_needs_none(ctx):
    assert await _authorize(ctx, "", "NoAuthorization") == {"idTokenInfo": {"status": "Accepted"}}


@pytest.mark.parametrize("status", [s.value for s in AuthorizationStatusEnumType])
async def test_every_stored_status_is_answered_as_stored(ctx, status):
    _add(ctx, "TOKEN-1", status=status)
    assert (await _authorize(ctx, "TOKEN-1"))["idTokenInfo"]["status"] == status


async def test_the_token_is_found_case_insensitively_and_only_with_its_type(ctx):
    _add(ctx, "04a1b2c3")
    assert (await _authorize(ctx, "04A1B2C3"))["idTokenInfo"]["status"] == "Accepted"
    assert (await _authorize(ctx, "04A1B2C3", "ISO15693"))["idTokenInfo"]["status"] == "Unknown"


async def test_an_accepted_token_past_its_expiry_is_expired(ctx):
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    _add(ctx, "OLD", cache_expiry=past.isoformat())
    _add(ctx, "NEW", cache_expiry="2099-01-01T00:00:00Z")
    old = (await _authorize(ctx, "OLD"))["idTokenInfo"]
    assert old["status"] == "Expired" and old["cacheExpiryDateTime"].startswith(past.strftime("%Y-%m-%dT%H:%M"))
    assert (await _authorize(ctx, "NEW"))["idTokenInfo"] == {"status": "Accepted",
                                                            "cacheExpiryDateTime": "2099-01-01T00:00:00Z"}


async def test_group_language_and_personal_message_are_passed_on(ctx):
    _add(ctx, "MEMBER", group_id_token="FLEET-7", language1="de", language2="en",
         message_format="UTF8", message_language="de", message_content="Willkommen")
    assert (await _authorize(ctx, "member"))["idTokenInfo"] == {
        "status": "Accepted", "groupIdToken": {"idToken": "FLEET-7", "type": "Central"},
        "language1": "de", "language2": "en",
        "personalMessage": {"format": "UTF8", "language": "de", "content": "Willkommen"}}


async def test_an_evse_restriction_answers_not_allowed_elsewhere(ctx):
    _add(ctx, "EVSE-2-ONLY", evse_ids=[2])
    station = FakeStation(ctx, "CS-1")
    event = {"eventType": "Started", "timestamp": "2025-01-01T00:00:00Z", "triggerReason": "Authorized",
             "seqNo": 0, "transactionInfo": {"transactionId": "T-1"},
             "idToken": {"idToken": "EVSE-2-ONLY", "type": "ISO14443"}}
    at_1 = await station.send("TransactionEvent", {**event, "evse": {"id": 1, "connectorId": 1}})
    at_2 = await station.send("TransactionEvent", {**event, "transactionInfo": {"transactionId": "T-2"},
                                                   "evse": {"id": 2, "connectorId": 1}})
    assert at_1["idTokenInfo"]["status"] == "NotAllowedTypeEVSE"
    assert at_2["idTokenInfo"] == {"status": "Accepted", "evseId": [2]}
    # Authorize names no EVSE: the station learns where the token is allowed.
    assert (await _authorize(ctx, "EVSE-2-ONLY"))["idTokenInfo"] == {"status": "Accepted", "evseId": [2]}


async def test_a_master_pass_is_answered_with_its_group_and_holds_on_any_evse(ctx):
    id_tokens.set_master_pass_group(ctx, OFFICER, "MASTER")
    _add(ctx, "SUPERVISOR", group_id_token="MASTER", evse_ids=[1])
    answer = (await _authorize(ctx, "SUPERVISOR"))["idTokenInfo"]
    assert answer["status"] == "Accepted" and answer["groupIdToken"] == {"idToken": "MASTER", "type": "Central"}
    stop = {"eventType": "Ended", "timestamp": "2025-01-01T00:00:00Z", "triggerReason": "StopAuthorized",
            "seqNo": 3, "transactionInfo": {"transactionId": "T-9", "stoppedReason": "MasterPass"},
            "idToken": {"idToken": "SUPERVISOR", "type": "ISO14443"}, "evse": {"id": 2}}
    info = (await FakeStation(ctx, "CS-1").send("TransactionEvent", stop))["idTokenInfo"]
    assert info["status"] == "Accepted" and info["groupIdToken"]["idToken"] == "MASTER"


async def test_a_station_group_of_its_own_wins_over_the_csms_wide_one(ctx):
    register(ctx, "CS-2")
    id_tokens.set_master_pass_group(ctx, OFFICER, "MASTER")
    id_tokens.set_master_pass_group(ctx, OFFICER, "DEPOT-MASTER", "CS-2")
    _add(ctx, "SUPERVISOR", group_id_token="MASTER", evse_ids=[1])
    event = {"eventType": "Ended", "timestamp": "2025-01-01T00:00:00Z", "triggerReason": "StopAuthorized",
             "seqNo": 3, "transactionInfo": {"transactionId": "T-9"},
             "idToken": {"idToken": "SUPERVISOR", "type": "ISO14443"}, "evse": {"id": 2}}
    at_1 = (await FakeStation(ctx, "CS-1").send("TransactionEvent", event))["idTokenInfo"]["status"]
    at_2 = (await FakeStation(ctx, "CS-2").send("TransactionEvent", event))["idTokenInfo"]["status"]
    assert (at_1, at_2) == ("Accepted", "NotAllowedTypeEVSE")
    assert id_tokens.master_pass_groups(ctx) == {"*": "MASTER", "CS-2": "DEPOT-MASTER"}


async def test_a_blocked_token_stays_blocked_whatever_its_expiry(ctx):
    _add(ctx, "BLOCKED", status="Blocked", cache_expiry="2000-01-01T00:00:00Z")
    assert (await _authorize(ctx, "BLOCKED"))["idTokenInfo"]["status"] == "Blocked"


@pytest.mark.parametrize("extra", [
    {"certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"},
    {"iso15118CertificateHashData": [{"hashAlgorithm": "SHA256", "issuerNameHash": "a" * 64,
                                      "issuerKeyHash": "b" * 64, "serialNumber": "01",
                                      "responderURL": "http://ocsp.mo.test"}]}])
async def test_contract_certificate_data_is_answered_no_certificate_available(ctx, extra):
    _add(ctx, "DE-ABC-C12345678-9", "eMAID")
    answer = await _authorize(ctx, "DE-ABC-C12345678-9", "eMAID", **extra)
    assert answer == {"idTokenInfo": {"status": "Accepted"}, "certificateStatus": "NoCertificateAvailable"}


async def test_without_certificate_data_no_certificate_status(ctx):
    assert "certificateStatus" not in await _authorize(ctx, "X")
