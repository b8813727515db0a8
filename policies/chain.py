"""How long a certificate chain may be when it is sent to a station."""

from __future__ import annotations

from policies.model import ChainPolicy, Decision


def check_chain_size(chain_pem: str, policy: ChainPolicy, station_max: int | None = None) -> Decision:
    """CertificateSignedRequest.certificateChain: <= 10000 characters (schema) and <= the
    station's SecurityCtrlr.MaxCertificateChainSize when it reported one."""
    size = len(chain_pem)
    if size > policy.max_chars:
        return Decision.refuse("chain.size",
                               f"chain is {size} characters, over the policy limit of {policy.max_chars}")
    if station_max is not None and size > station_max:
        return Decision.refuse("chain.station_max",
                               f"chain is {size} characters, over the station's MaxCertificateChainSize of {station_max}")
    return Decision.allow()
