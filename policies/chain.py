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


_END = "-----END CERTIFICATE-----"


def station_max_plausible(chain_pem: str, station_max: int) -> Decision:
    """Whether a reported MaxCertificateChainSize could be true: a chain always holds the
    station's own certificate, so a limit below that leaf alone (0, say) fits no chain at all and
    must be misreported. Such a limit is better ignored than obeyed: the station's answer to the
    chain then decides."""
    end = chain_pem.find(_END)
    leaf = len(chain_pem) if end < 0 else end + len(_END)
    if station_max >= leaf:
        return Decision.allow()
    return Decision.refuse("chain.station_max_implausible",
                           f"the station reports a MaxCertificateChainSize of {station_max}, below the "
                           f"{leaf} characters of its own certificate: no chain could fit")
