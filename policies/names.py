"""Names: the station identities the CSMS registers and admits, and those the CA puts in certificates."""

from __future__ import annotations

import ipaddress
import re
import unicodedata

from policies.model import Decision

# RFC 6761: resolves to the loopback address everywhere, without DNS; a lab reaches the CSMS by it.
LOOPBACK_NAME = "localhost"

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")

# OCPP 2.0.1 P4 §3.1.1 / identifierString: a station identity is at most 48 characters.
IDENTITY_MAX = 48


def check_station_identity(identity: str) -> Decision:
    """The one rule for a station identity, whichever door names it: registration (REST, CLI)
    and admission (the last segment of the WebSocket URL) refuse exactly the same identities, so
    that no station can be registered that could never connect. ':' would split the Basic-auth
    username, '/' the URL path; control characters have no place in a URL or a log line."""
    if not identity:
        return Decision.refuse("identity.missing", "the station identity is empty")
    if len(identity) > IDENTITY_MAX:
        return Decision.refuse("identity.length", f"station identity has {len(identity)} characters, "
                                                  f"at most {IDENTITY_MAX} allowed")
    if ":" in identity or "/" in identity or not identity.isprintable():
        return Decision.refuse("identity.characters", "station identity must not contain ':', '/' or control characters (OCPP identifierString)")
    return Decision.allow()


def control_character(text: str, *, invisible: bool = False) -> str | None:
    """The first control character of ``text`` (C0, DEL, C1), or with ``invisible`` also the first
    format character (a zero-width space, a direction mark); None when it has none. Names people
    read back or type again (a firmware image's, the CSO's organization) must hold neither."""
    kinds = ("Cc", "Cf") if invisible else ("Cc",)
    return next((c for c in text if unicodedata.category(c) in kinds), None)


def check_fqdn(name: str) -> Decision:
    """A00.FR.510: the CSMS certificate's CN (and dNSName) is the FQDN stations connect to.
    Stations reject wildcards; a single label ("localhost") is not a valid dNSName either."""
    if "*" in name:
        return Decision.refuse("fqdn.wildcard", f"{name!r}: wildcard names are not allowed (stations reject them)")
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return Decision.refuse("fqdn.syntax", f"{name!r} is not a fully qualified domain name "
                                              "(two or more labels of letters, digits and hyphens)")
    if labels[-1].isdigit():
        return Decision.refuse("fqdn.syntax", f"{name!r} looks like an IP address; use a host name")
    return Decision.allow()


def check_alt_name(name: str) -> Decision:
    """An extra subjectAltName of the CSMS server certificate (besides the FQDN): a host name under
    the FQDN rules, the loopback name ``localhost``, or a unicast IP address (an iPAddress entry)."""
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return Decision.allow() if name == LOOPBACK_NAME else check_fqdn(name)
    if address.is_unspecified or address.is_multicast:
        return Decision.refuse("san.ip", f"{name!r} is not an address a station can connect to "
                                         "(unspecified or multicast)")
    return Decision.allow()
