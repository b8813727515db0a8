"""What never reaches the message log: secrets and customer identifiers in OCPP frames.

Pure functions on frame text, run on the log's writer thread (never on the event loop). A frame
is parsed only when its text holds one of the trigger strings below: a Heartbeat is kept as it
came, byte for byte, without a JSON round trip.

- **Secrets, replaced by "[redacted]"**: any value under a key named ``password``, ``apnPassword``,
  ``simPin``, ``key`` or ``basicAuthPassword`` (SetNetworkProfile's VPN and APN credentials,
  whatever the nesting); the value of any device-model variable whose name contains "password"
  (``attributeValue`` of SetVariables/GetVariables, ``value`` of NotifyReport, ``actualValue``
  of NotifyEvent: SecurityCtrlr.BasicAuthPassword, and a vendor's own password variables);
  ``exiResponse`` of Get15118EVCertificate (an ISO 15118 CertificateInstallationRes carries
  the EV's contract private key, encrypted for it, but a private key all the same); in an upload
  or download location (GetLog's ``remoteLocation``, UpdateFirmware's ``location``), a URL's
  password and the secret of a one-time file-service path (``/files/<grant>/<secret>/``): the
  log's readers (auditors too) would otherwise hold a station's one-time credential, and could
  upload a log in its place before it did.
- **Customer identifiers, pseudonymised**: the ``idToken`` of every IdTokenType (idToken,
  groupIdToken, local list entries), ``additionalIdToken`` and ``customerIdentifier`` become
  ``pseudonym:<12 hex>``, an HMAC-SHA256 under a key that lives in this process's memory only:
  within one run the same token always gets the same pseudonym (a session can be followed), and
  nobody, ChargeCA included, can turn a pseudonym back into the token or link it across a
  restart. The token's ``type`` stays. A personal message's ``content`` and
  NotifyCustomerInformation's ``data`` (customer data the customer-information block keeps
  under its own rules) are redacted.
- Kept: certificates and certificate chains (public), CSRs (public), hash data, everything else.

A broken frame that is still JSON is redacted the same way; one that is not JSON is kept cut to
its allowance as it came (it cannot carry a readable field).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REDACTED = "[redacted]"
_SECRET_KEYS = frozenset({"password", "apnPassword", "simPin", "key", "basicAuthPassword", "exiResponse"})
_IDENTIFIER_KEYS = frozenset({"additionalIdToken", "customerIdentifier"})
_MESSAGE_KEYS = frozenset({"personalMessage", "updatedPersonalMessage"})
_VARIABLE_VALUE_KEYS = ("attributeValue", "actualValue")
_LOCATION_KEYS = frozenset({"remoteLocation", "location"})
_PASSWORD_NAME = re.compile("password", re.IGNORECASE)


def secret_variable(name: Any) -> bool:
    """Whether a device-model variable of this name holds a secret: its value is redacted here and
    never kept in the device model (api/csms/provisioning/device_model.py)."""
    return _PASSWORD_NAME.search(str(name)) is not None


# Redaction needs a parse only when one of these occurs in the text (case as the schemas spell
# them; "assword" covers password, apnPassword, BasicAuthPassword and vendor variables). Looked
# for one by one with ``in``: a regular expression of the alternatives tried each at every
# position of the frame, ~8 µs for a TransactionEvent with four sampled values against ~2.
_TRIGGERS = ("assword", "idToken", "IdToken", "simPin", '"key"', "customerIdentifier", "exiResponse",
             "ersonalMessage", "://")
_CUSTOMER_DATA_ACTIONS = frozenset({"NotifyCustomerInformation"})
# ChargeCA's own answers to these station CALLs: their response schemas hold no field redaction
# touches (tests/ocpp/test_message_log.py holds them to that), so the scan for triggers is
# skipped; half of a Heartbeat's redaction time on the log's writer.
PLAIN_ANSWERS = frozenset({"Heartbeat", "StatusNotification", "MeterValues", "BootNotification", "NotifyEvent",
                           "NotifyReport", "SecurityEventNotification", "LogStatusNotification",
                           "FirmwareStatusNotification"})


class Redactor:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def pseudonym(self, value: str) -> str:
        digest = hmac.new(self._key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
        return f"pseudonym:{digest[:12]}"

    def frame_text(self, text: str, action: str | None) -> str:
        """``text`` with secrets and identifiers replaced; ``text`` itself when it holds none
        (or is no JSON array to look into)."""
        if action not in _CUSTOMER_DATA_ACTIONS and not any(trigger in text for trigger in _TRIGGERS):
            return text
        try:
            frame = json.loads(text)
        except (ValueError, RecursionError):
            return text
        if not isinstance(frame, list) or not frame or not isinstance(frame[-1], dict):
            return text
        if action in _CUSTOMER_DATA_ACTIONS and frame[0] == 2 and "data" in frame[-1]:
            frame[-1]["data"] = REDACTED
        self._walk(frame)
        redacted = json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
        try:
            redacted.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate escape in the frame: keep it an escape
            redacted = json.dumps(frame, separators=(",", ":"))
        return redacted

    def _walk(self, root: Any) -> None:
        # Iterative: the frame may be nested as deep as the parser allowed.
        stack = [root]
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(item for item in node if isinstance(item, (dict, list)))
                continue
            if not isinstance(node, dict):
                continue
            self._redact_fields(node)
            stack.extend(value for value in node.values() if isinstance(value, (dict, list)))

    def _redact_fields(self, node: dict[str, Any]) -> None:
        for key in node.keys() & _SECRET_KEYS:
            node[key] = REDACTED
        for key in node.keys() & _IDENTIFIER_KEYS:
            if isinstance(node[key], str):
                node[key] = self.pseudonym(node[key])
        for key in node.keys() & _LOCATION_KEYS:
            if isinstance(node[key], str):
                node[key] = without_credentials(node[key])
        for key in node.keys() & _MESSAGE_KEYS:
            if isinstance(node[key], dict) and "content" in node[key]:
                node[key]["content"] = REDACTED
        # An IdTokenType: {"idToken": str, "type": str, ...}
        if isinstance(node.get("idToken"), str) and "type" in node:
            node["idToken"] = self.pseudonym(node["idToken"])
        variable = node.get("variable")
        if isinstance(variable, dict) and secret_variable(variable.get("name", "")):
            for key in _VARIABLE_VALUE_KEYS:
                if key in node:
                    node[key] = REDACTED
            for attribute in node.get("variableAttribute") or ():
                if isinstance(attribute, dict) and "value" in attribute:
                    attribute["value"] = REDACTED


def without_credentials(url: str) -> str:
    """``url`` with its password, and a one-time file-service path's secret, redacted."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:   # no URL to read (a port that is no number): nothing of it kept
        return REDACTED
    netloc = parts.netloc
    if password is not None:
        netloc = f"{netloc.rpartition('@')[0].partition(':')[0]}:{REDACTED}@{netloc.rpartition('@')[2]}"
    segments = parts.path.split("/")
    if len(segments) > 3 and segments[1] == "files":   # "", "files", grant, secret[, name]
        segments[3] = REDACTED
    return urlunsplit((parts.scheme, netloc, "/".join(segments), parts.query, parts.fragment))
