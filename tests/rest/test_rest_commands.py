"""Typed commands over REST (POST /api/v1/stations/{id}/commands/{action}) against a real
simulated station over real WebSockets (wss, profile 2): sent now with the typed answer, stored
as a job, refused for an operator exactly like the raw call, and documented field by field."""

from __future__ import annotations

import asyncio
import json

from ocpp_support import tls_csms  # noqa: F401 - fixture
from pki_fixtures import make_root
from sqlmodel import select
from trust_anchor_support import MANUFACTURER_ROOT, booted, pem, requests

from api.core.audit import run_in_session
from storage.audit import AuditEntry


def _command(csms, station_id: str, action: str, body: dict | None, *, role: str = "operator", **params):
    return csms.rest.post(f"/api/v1/stations/{station_id}/commands/{action}", json=body, params=params,
                          headers=csms.headers(role))


def _audit(csms, station_id: str) -> list[tuple[str, dict]]:
    query = select(AuditEntry).where(AuditEntry.target == station_id).order_by(AuditEntry.seq)
    return [(e.action, json.loads(e.detail)) for e in run_in_session(csms.ctx, lambda s: list(s.exec(query)))
            if e.action.startswith("station.call")]


async def test_trigger_message_is_sent_and_its_answer_read(tls_csms):
    station = await booted(tls_csms, "CMD-TRIGGER")
    booted_at = tls_csms.station_row("CMD-TRIGGER").last_boot_at

    answer = await _command(tls_csms, "CMD-TRIGGER", "TriggerMessage", {"requested_message": "BootNotification"})

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "answered"
    assert answer.json()["result"]["status"] == "Accepted"
    assert requests(station, "TriggerMessage") == [{"requestedMessage": "BootNotification"}]
    # The station does what it was asked: a BootNotification follows.
    await tls_csms.until(lambda: tls_csms.station_row("CMD-TRIGGER").last_boot_at > booted_at)
    assert [(action, detail["action"], detail.get("status")) for action, detail in _audit(tls_csms, "CMD-TRIGGER")] == [
        ("station.call", "TriggerMessage", None), ("station.call.result", "TriggerMessage", "answered")]


async def test_get_variables_answers_with_typed_results(tls_csms):
    station = await booted(tls_csms, "CMD-VARS")
    station.device_model.set("OCPPCommCtrlr", "HeartbeatInterval", 300)

    answer = await _command(tls_csms, "CMD-VARS", "GetVariables", {"get_variable_data": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "NoSuchThing"}}]})

    assert answer.status_code == 200, answer.text
    results = answer.json()["result"]["get_variable_result"]
    assert [(r["variable"]["name"], r["attribute_status"], r["attribute_value"]) for r in results] == [
        ("HeartbeatInterval", "Accepted", "300"), ("NoSuchThing", "UnknownVariable", None)]


async def test_a_command_as_a_job_is_stored_then_sent(tls_csms):
    station = await booted(tls_csms, "CMD-JOB")

    stored = await _command(tls_csms, "CMD-JOB", "Reset", {"type": "OnIdle", "evse_id": 1}, mode="job")

    assert stored.status_code == 202, stored.text
    location = stored.headers["Location"]
    assert location == stored.json()["url"] and stored.json()["action"] == "Reset"
    job = {}

    async def answered() -> bool:
        job.update((await tls_csms.rest.get(location, headers=tls_csms.headers("auditor"))).json())
        return job["status"] == "answered"

    for _ in range(200):
        if await answered():
            break
        await asyncio.sleep(0.02)
    assert job["status"] == "answered" and job["response"] == {"status": "Accepted"}, job
    assert job["result"] == {"status": "Accepted", "status_info": None, "custom_data": None}, job
    assert job["result_error"] is None
    assert requests(station, "Reset") == [{"type": "OnIdle", "evseId": 1}]
    assert ("station.call", "async") in [(a, d.get("mode")) for a, d in _audit(tls_csms, "CMD-JOB")]


async def test_an_operator_is_refused_a_security_relevant_command_as_on_the_raw_call(tls_csms):
    station = await booted(tls_csms, "CMD-ROLE")
    firmware = {"request_id": 1, "firmware": {"location": "https://fw.test/1.bin",
                                              "retrieve_date_time": "2030-01-01T00:00:00Z",
                                              "signing_certificate": "-----BEGIN CERTIFICATE-----",
                                              "signature": "c2ln"}}

    for mode in ("sync", "job"):
        refused = await _command(tls_csms, "CMD-ROLE", "UpdateFirmware", firmware, mode=mode)
        assert refused.status_code == 403, refused.text
        assert refused.json()["rule"] == "call.role" and refused.json()["required_roles"] == ["officer"]
    whole = await _command(tls_csms, "CMD-ROLE", "Reset", {"type": "Immediate"})
    assert whole.status_code == 403 and whole.json()["rule"] == "call.role"
    raw = await tls_csms.post_call("CMD-ROLE", "UpdateFirmware", {
        "requestId": 1, "firmware": {"location": "https://fw.test/1.bin", "retrieveDateTime": "2030-01-01T00:00:00Z",
                                     "signingCertificate": "-----BEGIN CERTIFICATE-----", "signature": "c2ln"}})
    assert (raw.status_code, raw.json()["rule"]) == (403, "call.role")

    assert requests(station, "UpdateFirmware") == [] and requests(station, "Reset") == []
    refusals = [d for a, d in _audit(tls_csms, "CMD-ROLE") if a == "station.call"]
    assert len(refusals) == 4 and all(d["rule"] == "call.role" and d["role"] == "operator" for d in refusals)


async def test_a_command_keeps_the_rules_of_its_action(tls_csms):
    """An officer's SetVariables of the station's password takes the dedicated route, as on the raw call."""
    station = await booted(tls_csms, "CMD-RULE")

    refused = await _command(tls_csms, "CMD-RULE", "SetVariables", {"set_variable_data": [{
        "attribute_value": "x" * 20, "component": {"name": "SecurityCtrlr"},
        "variable": {"name": "BasicAuthPassword"}}]}, role="officer")

    assert refused.status_code == 422 and refused.json()["rule"] == "call.password", refused.text
    assert requests(station, "SetVariables") == []


async def test_install_certificate_runs_the_trust_anchor_workflow(tls_csms):
    """As on the raw call: officer only, sync only, and the workflow's inventory refresh follows."""
    station = await booted(tls_csms, "CMD-ROOT")
    body = {"certificate_type": MANUFACTURER_ROOT, "certificate": pem(make_root("ec", serial=0xA7).certificate)}

    operator = await _command(tls_csms, "CMD-ROOT", "InstallCertificate", body)
    as_job = await _command(tls_csms, "CMD-ROOT", "InstallCertificate", body, role="officer", mode="job")
    installed = await _command(tls_csms, "CMD-ROOT", "InstallCertificate", body, role="officer")

    assert (operator.status_code, operator.json()["rule"]) == (403, "call.role")
    assert (as_job.status_code, as_job.json()["rule"]) == (422, "call.sync_only")
    assert installed.status_code == 200 and installed.json()["result"]["status"] == "Accepted", installed.text
    assert len(requests(station, "InstallCertificate")) == 1
    assert requests(station, "GetInstalledCertificateIds")[-1] == {"certificateType": [MANUFACTURER_ROOT]}


async def test_a_body_that_breaks_the_schema_names_its_field(tls_csms):
    await booted(tls_csms, "CMD-BAD")

    empty = await _command(tls_csms, "CMD-BAD", "GetVariables", {"get_variable_data": []})
    typo = await _command(tls_csms, "CMD-BAD", "TriggerMessage", {"requested_message": "Heartbeet"})

    assert empty.status_code == 422 and empty.json()["field"] == "body.get_variable_data", empty.text
    assert empty.json()["rule"] == "call.schema"
    assert typo.status_code == 422 and "requested_message" in typo.json()["field"], typo.text


async def test_a_station_that_is_not_connected_is_409_and_a_job_waits_for_it(tls_csms):
    tls_csms.add_station("CMD-AWAY", profile=2)

    now = await _command(tls_csms, "CMD-AWAY", "ClearCache", None)
    later = await _command(tls_csms, "CMD-AWAY", "ClearCache", None, mode="job")

    assert now.status_code == 409 and now.json()["rule"] == "station.not_connected", now.text
    assert later.status_code == 202 and later.json()["status"] == "pending", later.text


async def test_openapi_shows_every_command_and_its_body_fields(tls_csms):
    document = (await tls_csms.rest.get("/openapi.json")).json()
    commands = [path for path in document["paths"] if "/commands/" in path]
    operation = document["paths"]["/api/v1/stations/{station_id}/commands/RequestStartTransaction"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    schema = document["components"]["schemas"][body]

    assert len(commands) == 40
    assert set(schema["properties"]) == {"id_token", "remote_start_id", "evse_id", "group_id_token",
                                         "charging_profile"}
    assert schema["required"] == ["id_token", "remote_start_id"]
    token = document["components"]["schemas"]["IdTokenType"]
    assert {"id_token", "type"} <= set(token["properties"])
    assert {p["name"] for p in operation["parameters"]} >= {"station_id", "mode", "timeout"}
    result = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "result" in document["components"]["schemas"][result]["properties"]


async def test_openapi_shows_which_command_fields_are_date_times_and_that_integers_are_32_bits(tls_csms):
    """What the OCPP schema asks and the body types do not say (api/rest/routers/commands.py)."""
    schemas = (await tls_csms.rest.get("/openapi.json")).json()["components"]["schemas"]
    assert schemas["ReserveNow"]["properties"]["expiry_date_time"]["format"] == "date-time"
    oldest = schemas["LogParametersType"]["properties"]["oldest_timestamp"]["anyOf"]
    assert {"type": "string", "format": "date-time"} in oldest
    request_id = schemas["GetLog"]["properties"]["request_id"]
    assert (request_id["minimum"], request_id["maximum"]) == (-(2**31), 2**31 - 1)
