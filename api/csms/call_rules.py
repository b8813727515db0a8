"""Who may send which CSMS-initiated action through the generic call, and on which conditions.

One declarative table, read by every door that sends an operator's CSMS call (the REST generic
call, sync or as a stored job; scripts use that same REST door; the CLI has no generic call):

- ``role``: the least role that may send it. Officer ⊇ operator; auditors send nothing.
- ``door``: how the generic call treats it:
    GENERIC   sent as given once the role and the schema check pass;
    CHECKED   sent as given only if the action's rule check (below) allows it;
    ROUTED    not sent raw: the generic call hands it to the rule-checked workflow that owns it
              (InstallCertificate / DeleteCertificate → api/csms/security/trust_anchors.py, with the
              trust-anchor safety rules: one self-signed CA only, never the last CSMS root, the
              station's capacity; UpdateFirmware → api/csms/firmware/updates.py: a registered image,
              signed, its root held by the station, with a one-time location of ours). Such a workflow decides on the station's live state, so it
              runs synchronously only, never as a stored job;
    DEDICATED refused on the generic call: ``route`` names the workflow that keeps the station
              able to reconnect (password rotation A01, profile upgrade A05, …).

Security-relevant actions are officer-only and never pass raw: InstallCertificate,
DeleteCertificate (ROUTED); CertificateSigned (only a chain we issued for that station, still
valid); SetNetworkProfile (never below the station's current profile, the URL scheme matching
the profile); UpdateFirmware (ROUTED: signed firmware only, a registered image whose root the
station holds); a Reset of the whole station (no evseId:
it interrupts every EVSE and applies a pending network profile); SetVariables writing the
SecurityCtrlr component or OCPPCommCtrlr.NetworkConfigurationPriority. A fleet-wide Reset is a
loop over stations, each call checked here.

Operators' station operations with a check of their arguments (CHECKED): RequestStartTransaction
(a TxProfile only), RequestStopTransaction (a transaction the station reported and that runs),
TriggerMessage (StatusNotification names its connector, F06.FR.13), ChangeAvailability,
UnlockConnector, ReserveNow and an EVSE's Reset (real EVSE and connector ids, an expiry ahead), CancelReservation (a
reservation we made), SetVariableMonitoring and
SetMonitoringLevel (severities 0-9, finite values), SetDisplayMessage (a window that ends after it
starts, not yet past), GetLog (an HTTP(S) or FTP(S) location with a host, a time
window that is one), SetChargingProfile, GetCompositeSchedule, GetChargingProfiles and
ClearChargingProfile (a profile a station can apply: purpose, EVSE, transaction, stack level,
validity, periods and limits; api/csms/smart_charging/rules.py). CustomerInformation reads or
erases a customer's personal data: an officer's, naming exactly one customer (N09.FR.09).

The checks in this module are pure (payload and facts in, ``Decision`` out); the facts that need
the database are gathered by api/csms/operator_calls.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from ocpp.v201.enums import ChargingProfilePurposeEnumType, MessageTriggerEnumType

from policies.model import Decision

OFFICER, OPERATOR, AUDITOR = "officer", "operator", "auditor"
GENERIC, CHECKED, ROUTED, DEDICATED = "generic", "checked", "routed", "dedicated"

# Which roles hold each role's rights.
_HOLDERS: Mapping[str, frozenset[str]] = MappingProxyType({
    OFFICER: frozenset({OFFICER}),
    OPERATOR: frozenset({OFFICER, OPERATOR}),
})

TRUST_ANCHOR_ROUTE = "/api/v1/stations/{id}/installed-certificates"
PASSWORD_ROUTE = "POST /api/v1/stations/{id}/password-rotation"
UPGRADE_ROUTE = "POST /api/v1/stations/{id}/security-profile-upgrade"
PROFILE_ROUTE = "PUT /api/v1/stations/{id}/security-profile"
RENEWAL_ROUTE = "POST /api/v1/stations/{id}/certificate-renewal"
FIRMWARE_ROUTE = "POST /api/v1/stations/{id}/firmware-updates"


@dataclass(frozen=True)
class CallRule:
    """How the generic call treats one action (for one payload)."""

    role: str
    door: str = GENERIC
    why: str = ""                  # why the role is needed, shown with a 403
    route: str | None = None       # DEDICATED: the route to use; ROUTED/CHECKED: the workflow behind it
    rule: str = ""                 # DEDICATED: the rule named in the refusal


def may(role: str | None, rule: CallRule) -> bool:
    return role in _HOLDERS[rule.role]


def holders(rule: CallRule) -> list[str]:
    return sorted(_HOLDERS[rule.role])


_OPERATOR = CallRule(OPERATOR)

_STATIC: Mapping[str, CallRule] = MappingProxyType({
    "InstallCertificate": CallRule(OFFICER, ROUTED, "installs a trust anchor on the station",
                                   route=f"POST {TRUST_ANCHOR_ROUTE}"),
    "DeleteCertificate": CallRule(OFFICER, ROUTED, "removes a trust anchor or certificate from the station",
                                  route=f"DELETE {TRUST_ANCHOR_ROUTE}/{{row_id}}"),
    "CertificateSigned": CallRule(OFFICER, CHECKED, "gives the station a client certificate",
                                  route=RENEWAL_ROUTE),
    "SetNetworkProfile": CallRule(OFFICER, CHECKED, "changes where and how the station connects",
                                  route=UPGRADE_ROUTE),
    "UpdateFirmware": CallRule(OFFICER, ROUTED, "replaces the station's firmware", route=FIRMWARE_ROUTE),
    # Firmware the station publishes to others (local controller, L03/L04).
    "PublishFirmware": CallRule(OFFICER, GENERIC, "publishes firmware to other stations"),
    # F, G, H: operators' station operations whose arguments a rule checks.
    "RequestStartTransaction": CallRule(OPERATOR, CHECKED),
    "RequestStopTransaction": CallRule(OPERATOR, CHECKED),
    "TriggerMessage": CallRule(OPERATOR, CHECKED),
    "ChangeAvailability": CallRule(OPERATOR, CHECKED),
    "UnlockConnector": CallRule(OPERATOR, CHECKED),
    "ReserveNow": CallRule(OPERATOR, CHECKED),
    "CancelReservation": CallRule(OPERATOR, CHECKED),
    "UnpublishFirmware": CallRule(OFFICER, GENERIC, "withdraws published firmware"),
    # N09/N10: a customer's personal data, read out of the station or erased there.
    "CustomerInformation": CallRule(OFFICER, CHECKED, "reads or erases a customer's personal data"),
    # N04/N05: severities 0 to 9.
    "SetVariableMonitoring": CallRule(OPERATOR, CHECKED),
    "SetMonitoringLevel": CallRule(OPERATOR, CHECKED),
    # O01: a time window the message can be shown in.
    "SetDisplayMessage": CallRule(OPERATOR, CHECKED),
    # N01: an upload location a station can use, and a time window that is one.
    "GetLog": CallRule(OPERATOR, CHECKED),
    # K: profiles and schedules a station can apply (api/csms/smart_charging/rules.py).
    "SetChargingProfile": CallRule(OPERATOR, CHECKED),
    "GetCompositeSchedule": CallRule(OPERATOR, CHECKED),
    "GetChargingProfiles": CallRule(OPERATOR, CHECKED),
    "ClearChargingProfile": CallRule(OPERATOR, CHECKED),
})

_WHOLE_STATION_RESET = CallRule(OFFICER, GENERIC, "a Reset without evseId restarts the whole station, "
                                                  "every EVSE and any pending network profile")


_EVSE_RESET = CallRule(OPERATOR, CHECKED)


def _reset(payload: Mapping[str, Any]) -> CallRule:
    return _EVSE_RESET if "evseId" in payload else _WHOLE_STATION_RESET


# SetVariables: what one (component, variable) write needs. SecurityCtrlr holds the station's
# credentials and identity; NetworkConfigurationPriority picks the network profile (and with it
# the security profile) the station uses next.
# The password route is an operator's: refusing the raw write names it rather than the role.
_PASSWORD = CallRule(OPERATOR, DEDICATED, "sets the station's Basic-auth password", route=PASSWORD_ROUTE,
                     rule="call.password")
_PRIORITY = CallRule(OFFICER, DEDICATED, "chooses the network profile, and with it the security profile",
                     route=UPGRADE_ROUTE, rule="call.dedicated_route")
_SECURITY_TUNING = CallRule(OFFICER, GENERIC, "configures the station's certificate handling")
_ORGANIZATION = CallRule(OFFICER, CHECKED, "sets the O the station puts in its CSRs")
_SECURITY_OTHER = CallRule(OFFICER, DEDICATED, "changes the station's identity or security settings",
                           route=PROFILE_ROUTE, rule="call.security_ctrlr")
# Keyed case-folded: a station may match names without regard to case, so "securityctrlr" must
# not slip past the rule that "SecurityCtrlr" meets.
_VARIABLE_RULES: Mapping[tuple[str, str], CallRule] = MappingProxyType({
    (component.casefold(), variable.casefold()): rule for (component, variable), rule in {
        ("SecurityCtrlr", "BasicAuthPassword"): _PASSWORD,
        ("SecurityCtrlr", "OrganizationName"): _ORGANIZATION,
        ("SecurityCtrlr", "CertSigningWaitMinimum"): _SECURITY_TUNING,
        ("SecurityCtrlr", "CertSigningRepeatTimes"): _SECURITY_TUNING,
        ("OCPPCommCtrlr", "NetworkConfigurationPriority"): _PRIORITY,
    }.items()
})
_ORDER = {GENERIC: 0, CHECKED: 1, ROUTED: 2, DEDICATED: 3}


def _name(entry: Mapping[str, Any], key: str) -> str:
    part = entry.get(key)
    return str(part.get("name", "")) if isinstance(part, dict) else ""


def variable_writes(payload: Mapping[str, Any]) -> Iterable[tuple[str, str, Any]]:
    entries = payload.get("setVariableData")
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, dict):
            yield _name(entry, "component"), _name(entry, "variable"), entry.get("attributeValue")


def _variable_rule(component: str, variable: str) -> CallRule:
    rule = _VARIABLE_RULES.get((component.casefold(), variable.casefold()))
    if rule is not None:
        return rule
    return _SECURITY_OTHER if component.casefold() == "securityctrlr" else _OPERATOR


def _set_variables(payload: Mapping[str, Any]) -> CallRule:
    """One request, one decision: the highest role any written variable needs, and the strictest
    door (with its route and rule) any of them takes."""
    rules = [_variable_rule(component, variable) for component, variable, _ in variable_writes(payload)]
    if not rules:
        return _OPERATOR
    strictest = max(rules, key=lambda r: _ORDER[r.door])
    highest = next((r for r in rules if r.role == OFFICER), strictest)
    return CallRule(highest.role, strictest.door, highest.why or strictest.why, strictest.route, strictest.rule)


_BY_PAYLOAD: Mapping[str, Callable[[Mapping[str, Any]], CallRule]] = MappingProxyType({
    "Reset": _reset,
    "SetVariables": _set_variables,
})


def call_rule(action: str, payload: Mapping[str, Any]) -> CallRule:
    """The rule for ``action`` with this (schema-valid) payload. Every action not named above
    is a station operation (operator)."""
    by_payload = _BY_PAYLOAD.get(action)
    if by_payload is not None:
        return by_payload(payload)
    return _STATIC.get(action, _OPERATOR)


def least_role(action: str) -> str:
    """The least role that may send ``action`` with some payload: what a door that knows the
    action before it reads the payload (a typed command) asks first, so that a role that may
    never send it is refused (403, audited) before its payload is looked at."""
    return OPERATOR if action in _BY_PAYLOAD else _STATIC.get(action, _OPERATOR).role


# --- the CHECKED actions' rules (pure) ------------------------------------------------------------

_SCHEME_FOR_PROFILE = {1: "ws://", 2: "wss://", 3: "wss://"}


def check_network_profile(payload: Mapping[str, Any], current_profile: int) -> Decision:
    """SetNetworkProfile: never below the profile the station must use now (lowering is an
    officer's decision with a reason, through PUT …/security-profile), one of the profiles OCPP
    defines, and a CSMS URL whose scheme fits the profile (profile 1 is ws://, 2 and 3 wss://)."""
    data = payload.get("connectionData", {})
    target = data.get("securityProfile")
    if not isinstance(target, int) or target < current_profile:
        return Decision.refuse("call.network_profile.lower",
                               f"securityProfile {target} is below the station's current profile {current_profile}; "
                               f"lowering a profile needs an officer and a reason: {PROFILE_ROUTE}")
    scheme = _SCHEME_FOR_PROFILE.get(target)
    if scheme is None:
        # No scheme fits a profile OCPP 2.0.1 does not define: it would let any URL through.
        return Decision.refuse("call.network_profile.profile",
                               f"securityProfile {target} is none of OCPP 2.0.1's security profiles 1, 2 and 3")
    if not str(data.get("ocppCsmsUrl", "")).lower().startswith(scheme):
        return Decision.refuse("call.network_profile.url",
                               f"security profile {target} needs an ocppCsmsUrl starting with {scheme}")
    return Decision.allow()


def check_firmware_signed(payload: Mapping[str, Any]) -> Decision:
    """UpdateFirmware: secure firmware update only (L01): the signing certificate and the
    signature travel with the request, so the station verifies what it installs."""
    firmware = payload.get("firmware", {})
    missing = [name for name in ("signingCertificate", "signature") if not firmware.get(name)]
    if missing:
        return Decision.refuse("call.firmware.unsigned",
                               f"UpdateFirmware needs firmware.{' and firmware.'.join(missing)} (secure firmware "
                               "update, L01): the station must be able to verify what it installs")
    return Decision.allow()


def check_organization(payload: Mapping[str, Any], organization: str) -> Decision:
    """SecurityCtrlr.OrganizationName: only the CSO's own name, the O our CA puts in every
    station certificate (a station with another name sends CSRs we refuse)."""
    for component, variable, value in variable_writes(payload):
        written = (component.casefold(), variable.casefold()) == ("securityctrlr", "organizationname")
        if written and value != organization:
            return Decision.refuse("call.organization",
                                   f"SecurityCtrlr.OrganizationName may only be set to {organization!r}, the "
                                   "OrganizationName of our CA")
    return Decision.allow()


@dataclass(frozen=True)
class IssuedForStation:
    """What our records say about a leaf a CertificateSigned would carry."""

    der: bytes
    station_id: str | None
    status: str
    issuer_der: bytes


def check_certificate_signed(chain: list[x509.Certificate], station_id: str, leaf: IssuedForStation | None,
                             deliverable: Iterable[str]) -> Decision:
    """CertificateSigned: only a chain we issued for this station — its leaf one of our
    certificates for it, in a ``deliverable`` status, followed by nothing but the CA that
    issued it — never a chain from elsewhere."""
    if not chain:
        return Decision.refuse("call.certificate_signed.chain", "certificateChain holds no PEM certificate")
    if leaf is None or leaf.der != chain[0].public_bytes(Encoding.DER):
        return Decision.refuse("call.certificate_signed.foreign",
                               "the chain's leaf is not a certificate ChargeCA issued; chains reach stations through "
                               f"the CSR workflow ({RENEWAL_ROUTE})")
    if leaf.station_id != station_id:
        return Decision.refuse("call.certificate_signed.station",
                               f"the chain's leaf was issued for station {leaf.station_id!r}, not {station_id!r}")
    if leaf.status not in set(deliverable):
        return Decision.refuse("call.certificate_signed.status",
                               f"the chain's leaf is {leaf.status}; only a certificate not yet replaced or revoked "
                               "may be delivered")
    rest = [c.public_bytes(Encoding.DER) for c in chain[1:]]
    if rest != [leaf.issuer_der]:
        return Decision.refuse("call.certificate_signed.chain",
                               "the chain must be the leaf followed by the ChargeCA CA that issued it, "
                               "and nothing else")
    return Decision.allow()


# --- F, G, H: remote control, availability, reservations (pure) -----------------------------------

def check_remote_start(payload: Mapping[str, Any]) -> Decision:
    """RequestStartTransaction (F01/F02): a charging profile that travels with a remote start is
    the profile of the transaction about to begin, so it is a TxProfile, and it cannot name a
    transactionId, which does not exist yet. An evseId, when given, is a real EVSE (from 1)."""
    if payload.get("evseId") is not None and payload["evseId"] < 1:
        return Decision.refuse("call.remote_start.evse", "evseId must be 1 or more; leave it out to let the "
                                                         "station choose")
    profile = payload.get("chargingProfile")
    if profile is None:
        return Decision.allow()
    if profile.get("chargingProfilePurpose") != ChargingProfilePurposeEnumType.tx_profile:
        return Decision.refuse("call.remote_start.profile_purpose",
                               f"the chargingProfile of a RequestStartTransaction must have chargingProfilePurpose "
                               f"TxProfile, not {profile.get('chargingProfilePurpose')}")
    if "transactionId" in profile:
        return Decision.refuse("call.remote_start.profile_transaction",
                               "the chargingProfile of a RequestStartTransaction must not carry a transactionId: "
                               "the transaction does not exist yet")
    return Decision.allow()


@dataclass(frozen=True)
class KnownTransaction:
    """What our records say about a transaction a RequestStopTransaction names."""

    ended: bool


def check_remote_stop(transaction_id: str, known: KnownTransaction | None) -> Decision:
    """RequestStopTransaction (F03): only a transaction the station reported to us and that has
    not ended; anything else is refused before it leaves."""
    if known is None:
        return Decision.refuse("call.remote_stop.unknown_transaction",
                               f"transaction {transaction_id!r} was never reported by this station")
    if known.ended:
        return Decision.refuse("call.remote_stop.ended", f"transaction {transaction_id!r} has already ended")
    return Decision.allow()


def check_trigger(payload: Mapping[str, Any]) -> Decision:
    """TriggerMessage (F06): a StatusNotification is about one connector, so F06.FR.13 asks for
    ``evse`` with its ``connectorId``."""
    if payload.get("requestedMessage") == MessageTriggerEnumType.status_notification:
        evse = payload.get("evse") or {}
        if "connectorId" not in evse:
            return Decision.refuse("call.trigger.evse",
                                   "TriggerMessage StatusNotification needs evse with id and connectorId (F06.FR.13)")
    return Decision.allow()


def check_reset(payload: Mapping[str, Any]) -> Decision:
    """Reset of an EVSE (B12): EVSE ids start at 1; the whole station is named by leaving evseId
    out, and that is an officer's (it restarts every EVSE and applies a pending network profile)."""
    if payload.get("evseId", 1) < 1:
        return Decision.refuse("call.reset.evse", "evseId must be 1 or more; leave it out to reset the whole "
                                                  "station (an officer's)")
    return Decision.allow()


def check_availability(payload: Mapping[str, Any]) -> Decision:
    """ChangeAvailability (G03-G05): the whole station is named by leaving ``evse`` out
    (TC_G_05); EVSE ids start at 1, so an evse.id of 0 is a mistake, not the station."""
    evse = payload.get("evse")
    if evse is not None and evse.get("id", 0) < 1:
        return Decision.refuse("call.availability.evse",
                               "evse.id must be 1 or more; leave evse out to change the whole station")
    return Decision.allow()


def check_unlock(payload: Mapping[str, Any]) -> Decision:
    """UnlockConnector (F05): one connector of one EVSE, both counted from 1."""
    if payload["evseId"] < 1 or payload["connectorId"] < 1:
        return Decision.refuse("call.unlock.connector", "evseId and connectorId must be 1 or more: an unlock "
                                                        "names one connector of one EVSE")
    return Decision.allow()


def check_reservation(payload: Mapping[str, Any], expires_at: datetime, now: datetime) -> Decision:
    """ReserveNow (H01): an expiry in the future, and an EVSE id from 1 when one is named."""
    if expires_at <= now:
        return Decision.refuse("call.reservation.expiry", "expiryDateTime must lie in the future")
    if payload.get("evseId") is not None and payload["evseId"] < 1:
        return Decision.refuse("call.reservation.evse", "evseId must be 1 or more; leave it out for any EVSE")
    return Decision.allow()


def check_cancel_reservation(station_id: str, reservation_id: int, ours: bool) -> Decision:
    """CancelReservation (H02): a reservation we made (reservations come from ReserveNow only), as
    the reservations route asks."""
    if not ours:
        return Decision.refuse("reservation.unknown", f"no reservation {reservation_id} for station {station_id!r}")
    return Decision.allow()
