"""The outbox's doorbell: "a call for a station was just stored, look now".

Whoever stores an OutboundCall rings (the SignCertificate follow-up, the REST API, a retry);
the outbox workers of this process wake up instead of waiting for their next periodic scan.
Workers on other nodes find the row on their scan. Ringing with no worker listening (the CLI)
does nothing: the row waits in the database all the same.
"""

from __future__ import annotations

from api.ocpp.doorbell import Doorbell, event_waker

_bell = Doorbell()
listen = _bell.listen
ring = _bell.ring

__all__ = ["event_waker", "listen", "ring"]
