"""Every CSMS action has one role, whichever door it comes through: the typed command
(``POST …/commands/{action}``), the raw call (``POST …/calls``), and the REST routes that send it
as part of their own workflow (remote starts, reservations, logs, firmware, trust anchors, …).

The table below names, for every route that changes something, the OCPP actions it sends and a
payload of each; the walk compares the role the route asks for with the role the generic call's
rule (api/csms/call_rules.py) asks for the same action and payload, statically (the routes'
declared roles) and over HTTP (operator and auditor against a real server, the station registered
but not connected, so nothing leaves whatever is allowed). A route that differs must name its
documented reason (``EXCEPTIONS``); a new route that changes something must be placed in the table
or in ``SENDS_NOTHING``. Every refusal for lack of a role is audited. The CLI runs as an officer and
has no door to a station's OCPP (README, "CLI"); the rotation scripts are REST clients of these
routes (tests/doors/test_scripts.py)."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.routing import APIRoute
from ocpp_support import csms, files_csms  # noqa: F401 - fixtures
from sqlmodel import func, select
from trust_anchor_support import booted

from api.core.audit import run_in_session
from api.csms.call_rules import OFFICER, OPERATOR, call_rule, holders, least_role
from api.csms.routes import COMMANDS
from api.rest.app import create_app
from storage.audit import AuditEntry, Outcome

S = "AR-1"
TOKEN = {"idToken": "T-1", "type": "Central"}
_TOKEN = {"id_token": "T-1", "type": "Central"}
OUR_URL = "wss://{fqdn}:{port}/ocpp"
ELSEWHERE = "wss://elsewhere.test/ocpp"


def _network(url: str, profile: int) -> dict:
    return {"configurationSlot": 2, "connectionData": {
        "ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": url, "messageTimeout": 30,
        "securityProfile": profile, "ocppInterface": "Wired0"}}


def _set(component: str, variable: str, value: str = "x" * 20) -> dict:
    return {"setVariableData": [{"component": {"name": component}, "variable": {"name": variable},
                                 "attributeValue": value}]}


FIRMWARE = {"requestId": 1, "firmware": {"location": "https://fw.test/1.bin",
                                         "retrieveDateTime": "2030-01-01T00:00:00Z",
                                         "signingCertificate": "x", "signature": "c2ln"}}
RENEW = ("TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"})
INSTALL = ("InstallCertificate", {"certificateType": "CSMSRootCertificate", "certificate": "x"})
DELETE = ("DeleteCertificate", {"certificateHashData": {"hashAlgorithm": "SHA256", "issuerNameHash": "ab",
                                                        "issuerKeyHash": "cd", "serialNumber": "1f"}})
INVENTORY = ("GetInstalledCertificateIds", {})

# (method, path, body, [(action, payload) the route sends]): every route that sends OCPP to a
# station, besides the typed commands and the raw call. ``{id}`` is the station.
SENDS = [
    ("POST", "/api/v1/stations/{id}/remote-starts", {"id_token": _TOKEN},
     [("RequestStartTransaction", {"idToken": TOKEN, "remoteStartId": 1})]),
    ("POST", "/api/v1/stations/{id}/reservations", {"expiry_date_time": "2030-01-01T00:00:00Z", "id_token": _TOKEN},
     [("ReserveNow", {"id": 1, "expiryDateTime": "2030-01-01T00:00:00Z", "idToken": TOKEN})]),
    ("DELETE", "/api/v1/stations/{id}/reservations/1", None, [("CancelReservation", {"reservationId": 1})]),
    ("POST", "/api/v1/stations/{id}/local-list", {"mode": "full"},
     [("SendLocalList", {"versionNumber": 1, "updateType": "Full"}), ("GetVariables", {"getVariableData": [
         {"component": {"name": "LocalAuthListCtrlr"}, "variable": {"name": "ItemsPerMessage"}}]})]),
    ("POST", "/api/v1/stations/{id}/local-list/version", None, [("GetLocalListVersion", {})]),
    ("POST", "/api/v1/stations/{id}/logs", {"log_type": "DiagnosticsLog"},
     [("GetLog", {"log": {"remoteLocation": "https://logs.test/up"}, "logType": "DiagnosticsLog", "requestId": 1})]),
    ("POST", "/api/v1/stations/{id}/customer-information", {"report": True, "clear": False, "customer_identifier": "C"},
     [("CustomerInformation", {"requestId": 1, "report": True, "clear": False, "customerIdentifier": "C"})]),
    ("POST", "/api/v1/stations/{id}/firmware-updates", {"image_id": 999999}, [("UpdateFirmware", FIRMWARE)]),
    ("POST", "/api/v1/firmware/campaigns", {"image_id": 999999, "dry_run": True}, [("UpdateFirmware", FIRMWARE)]),
    ("POST", "/api/v1/firmware/campaigns/999999/resume", None, [("UpdateFirmware", FIRMWARE)]),
    ("POST", "/api/v1/stations/{id}/installed-certificates/refresh", {}, [INVENTORY]),
    ("POST", "/api/v1/stations/{id}/installed-certificates", {"certificate_type": "CSMSRootCertificate",
                                                             "source": "csms-root"}, [INSTALL, INVENTORY]),
    ("DELETE", "/api/v1/stations/{id}/installed-certificates/1", None, [DELETE, INVENTORY]),
    ("POST", "/api/v1/stations/{id}/installed-certificates/delete", {"certificate_type": "CSMSRootCertificate"},
     [INVENTORY, DELETE]),
    ("POST", "/api/v1/rotations/csms-root", {"dry_run": True}, [INSTALL, DELETE, INVENTORY]),
    ("POST", "/api/v1/stations/{id}/password-rotation", {},
     [("SetVariables", _set("SecurityCtrlr", "BasicAuthPassword"))]),
    ("POST", "/api/v1/stations/{id}/security-profile-upgrade", {"csms_url": ELSEWHERE},
     [("SetNetworkProfile", _network(ELSEWHERE, 2))]),
    ("POST", "/api/v1/stations/{id}/security-profile-upgrade", {},
     [INVENTORY, ("SetNetworkProfile", _network(OUR_URL, 2)),
      ("SetVariables", _set("OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1")), ("Reset", {"type": "OnIdle"})]),
    ("POST", "/api/v1/stations/{id}/certificate-renewal", {}, [RENEW]),
    ("POST", "/api/v1/certificate-renewals", {"expiring_within_days": 30}, [RENEW]),
    ("POST", "/api/v1/certificate-renewals", {"all": True}, [RENEW]),
    ("POST", "/api/v1/rotations/station-certificates", {"expiring_within_days": 30, "dry_run": True}, [RENEW]),
    ("POST", "/api/v1/rotations/station-certificates", {"all": True, "dry_run": True}, [RENEW]),
]

# Where a route asks another role of an operator than the generic call for what it sends, and why
# (README): whether the route refuses the operator (True) where the generic call lets it, or the
# other way round (False).
EXCEPTIONS = {
    # A05 (README, "security-profile-upgrade"): the workflow sends its SetNetworkProfile,
    # NetworkConfigurationPriority and whole-station Reset only to raise the profile (upgrade.target)
    # and, for an operator, only to this CSMS's own address (upgrade.csms_url: the row before).
    ("POST", "/api/v1/stations/{id}/security-profile-upgrade", "{}"): False,
    # The whole fleet at once is an officer's decision; station by station the role is the
    # generic call's (POST …/certificate-renewal, the per-station passes).
    ("POST", "/api/v1/certificate-renewals", '{"all": true}'): True,
    ("POST", "/api/v1/rotations/station-certificates", '{"all": true, "dry_run": true}'): True,
}

# Routes that change something but send nothing to a station themselves.
SENDS_NOTHING = {
    ("POST", "/api/v1/ca/v2g"), ("POST", "/api/v1/stations/{station_id}/certificates"),
    ("POST", "/api/v1/certificates/{serial}/revoke"), ("POST", "/api/v1/firmware/roots"),
    ("POST", "/api/v1/firmware/signer"), ("POST", "/api/v1/firmware/images"), ("POST", "/api/v1/firmware/revocations"),
    ("POST", "/api/v1/firmware/campaigns/{campaign_id}/stop"), ("POST", "/api/v1/id-tokens/import"),
    ("PUT", "/api/v1/id-tokens/master-pass-groups"), ("POST", "/api/v1/id-tokens"),
    ("PATCH", "/api/v1/id-tokens/{token_id}"),
    ("DELETE", "/api/v1/id-tokens/{token_id}"), ("POST", "/ocsp"), ("POST", "/api/v1/rotations/server-certificate"),
    ("PUT", "/api/v1/stations/{station_id}/boot-policy"), ("POST", "/api/v1/stations"),
    ("POST", "/api/v1/stations/{station_id}/disable"), ("POST", "/api/v1/stations/{station_id}/enable"),
    ("DELETE", "/api/v1/stations/{station_id}"), ("PUT", "/api/v1/stations/{station_id}/password"),
    ("PUT", "/api/v1/stations/{station_id}/security-profile"), ("PUT", "/api/v1/tariffs/default"),
    ("DELETE", "/api/v1/tariffs/default"), ("PUT", "/api/v1/stations/{station_id}/tariff"),
    ("DELETE", "/api/v1/stations/{station_id}/tariff"), ("POST", "/api/v1/tokens"),
    ("DELETE", "/api/v1/tokens/{token_id}"),
    # Takes back a stored call before it leaves, with the role its action needs (tests/ocpp/test_job_control.py).
    ("DELETE", "/api/v1/stations/{station_id}/calls/{call_id}"),
}
GENERIC = ("POST", "/api/v1/stations/{station_id}/calls")


def _key(method: str, path: str, body: Any) -> tuple[str, str, str]:
    return method, path, json.dumps(body)


def _roles_of(route: APIRoute) -> set[str]:
    """The roles a route's dependencies ask for (api/rest/auth.py require_role, or a command's own)."""
    found: set[str] = set()
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        roles = getattr(dependant.call, "roles", None)
        if roles is not None:
            found = set(roles) if not found else found & set(roles)
        pending += dependant.dependencies
    return found


def _changing_routes(app) -> dict[tuple[str, str], APIRoute]:
    return {(method, route.path): route for route in app.routes if isinstance(route, APIRoute)
            for method in route.methods if method not in ("GET", "HEAD")}


def _template(method: str, path: str, routes) -> str:
    """The route template a table path is an instance of (the most specific)."""
    concrete = path.replace("{id}", S)
    return min((t for m, t in routes if m == method and re.fullmatch(
        re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(t)), concrete)), key=lambda t: t.count("{"))


def _refused_count(csms) -> int:
    query = select(func.count()).select_from(AuditEntry).where(AuditEntry.outcome == Outcome.REFUSED)
    return run_in_session(csms.ctx, lambda s: s.exec(query).one())


async def _send(csms, role: str, method: str, path: str, body: Any):
    url = path.replace("{id}", S)
    return await csms.rest.request(method, url, json=body, headers=csms.headers(role))


def _our(payload: dict, csms) -> dict:
    text = json.dumps(payload).replace(OUR_URL, OUR_URL.format(fqdn=csms.ctx.settings.fqdn,
                                                               port=csms.ctx.settings.ocpp_wss_port))
    return json.loads(text)


def _rule_roles(sends: list[tuple[str, dict]]) -> set[str]:
    """The roles the generic call allows for everything a route sends."""
    allowed = {OFFICER, OPERATOR}
    for action, payload in sends:
        allowed &= set(holders(call_rule(action, payload)))
    return allowed


async def test_every_route_that_changes_something_is_placed(csms):
    """A new route must say what it sends a station (SENDS) or that it sends nothing."""
    routes = _changing_routes(create_app(csms.ctx))
    commands = {key for key in routes if key[1].startswith("/api/v1/stations/{station_id}/commands/")}
    table = {(m, _template(m, p, routes)) for m, p, *_ in SENDS}
    assert set(routes) == commands | table | SENDS_NOTHING | {GENERIC}


async def test_each_route_asks_the_role_the_generic_call_asks_for_what_it_sends(csms):
    """The table, statically: the role a route declares against the generic call's rule for the
    same actions and payloads; and every typed command's against its action's least role."""
    routes = _changing_routes(create_app(csms.ctx))
    for action in COMMANDS:
        route = routes["POST", f"/api/v1/stations/{{station_id}}/commands/{action}"]
        assert _roles_of(route) == set(holders(call_rule(action, {})) if least_role(action) == OFFICER
                                       else {OFFICER, OPERATOR}), action
    for method, path, body, sends in SENDS:
        declared = _roles_of(routes[method, _template(method, path, routes)])
        rule = _rule_roles([(action, _our(payload, csms)) for action, payload in sends])
        if _key(method, path, body) in EXCEPTIONS:
            assert declared >= rule and OPERATOR in declared, (method, path)
        else:
            # The route may ask its role on the payload itself (an officer's ``all``, csms_url):
            # never less than the rule, and the HTTP walk below holds it to exactly the rule.
            assert declared >= rule, (method, path, declared, rule)


async def test_typed_command_and_raw_call_refuse_the_same_roles_and_audit_it(csms):
    """Every action on both doors, for an operator and an auditor: refused (403) on one exactly
    when refused on the other, before the payload is looked at, and each refusal audited."""
    csms.add_station(S, profile=2)
    payloads = {"Reset": [{"type": "OnIdle"}, {"type": "OnIdle", "evseId": 1}],
                "SetVariables": [_set("SecurityCtrlr", "OrganizationName"), _set("OCPPCommCtrlr", "HeartbeatInterval")]}
    snake = {"evseId": "evse_id", "setVariableData": "set_variable_data", "attributeValue": "attribute_value"}

    def typed(payload: dict) -> dict:
        return json.loads(re.sub("|".join(snake), lambda m: snake[m.group(0)], json.dumps(payload)))

    for action in sorted(COMMANDS):
        for payload in payloads.get(action, [{}]):
            officer_only = OFFICER == (call_rule(action, payload).role if action in payloads else least_role(action))
            for role in ("operator", "auditor"):
                for door in ("typed", "raw"):
                    before = _refused_count(csms)
                    if door == "typed":
                        answer = await _send(csms, role, "POST", f"/api/v1/stations/{{id}}/commands/{action}",
                                             typed(payload))
                    else:
                        answer = await csms.post_call(S, action, payload, role=role)
                    refused = role == "auditor" or officer_only
                    assert (answer.status_code == 403) == refused, (action, payload, role, door, answer.text)
                    if refused:
                        assert _refused_count(csms) == before + 1, (action, role, door)
                    if refused and role == "operator":
                        assert answer.json()["rule"] == "call.role", (action, door, answer.text)
                        assert answer.json()["required_roles"] == ["officer"], (action, door)


async def test_each_route_refuses_the_same_roles_as_the_generic_call_for_what_it_sends(files_csms):
    """The table over HTTP: an operator is refused a route exactly when the generic call refuses
    it something the route sends (but for the documented exceptions, where the route's own rule
    narrows the payload); an auditor everywhere; every refusal audited. With the file service, as
    ``chargeca serve`` runs it (GetLog's upload location)."""
    csms = files_csms
    csms.add_station(S, profile=2)
    for method, path, body, sends in SENDS:
        exception = EXCEPTIONS.get(_key(method, path, body))
        for role in ("operator", "auditor"):
            before = _refused_count(csms)
            answer = await _send(csms, role, method, path, body)
            assert answer.status_code < 500, (method, path, answer.text)
            generic = [await csms.post_call(S, action, _our(payload, csms), role=role) for action, payload in sends]
            raw_refused = any(g.status_code == 403 for g in generic)
            route_refused = answer.status_code == 403
            if exception is not None and role == "operator":
                assert (route_refused, raw_refused) == (exception, not exception), (method, path, body, answer.text)
            else:
                assert route_refused == raw_refused, (method, path, body, role, answer.text,
                                                      [g.text for g in generic])
            if route_refused:
                assert _refused_count(csms) > before, (method, path, role, "not audited")


async def test_an_upgrade_to_another_csms_is_refused_to_an_operator_before_the_station_is_asked(csms):
    """As the generic SetNetworkProfile: the role first, whether the station is connected or not,
    audited, and nothing sent to it (not even the inventory refresh the upgrade starts with)."""
    station = await booted(csms, "AR-LIVE", profile=1)
    csms.add_station("AR-AWAY", profile=1)

    for station_id in ("AR-LIVE", "AR-AWAY"):
        answer = await csms.rest.post(f"/api/v1/stations/{station_id}/security-profile-upgrade",
                                      json={"target": 2, "csms_url": ELSEWHERE}, headers=csms.headers("operator"))
        assert answer.status_code == 403 and answer.json()["rule"] == "upgrade.csms_url", answer.text
        raw = await csms.post_call(station_id, "SetNetworkProfile", _network(ELSEWHERE, 2))
        assert (raw.status_code, raw.json()["rule"]) == (403, "call.role")
        refusals = [json.loads(e.detail)["rule"] for e in run_in_session(csms.ctx, lambda s: list(s.exec(
            select(AuditEntry).where(AuditEntry.target == station_id, AuditEntry.outcome == Outcome.REFUSED))))]
        assert refusals == ["upgrade.csms_url", "call.role"], station_id

    upgrade = ("GetInstalledCertificateIds", "GetVariables", "SetNetworkProfile", "SetVariables", "Reset")
    assert [action for action, _ in station.received if action in upgrade] == []
