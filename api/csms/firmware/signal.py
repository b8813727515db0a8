"""The firmware campaigns' doorbell: "a campaign was created or resumed, or one of its stations
finished", so this process's campaign worker looks now instead of at its next pass."""

from __future__ import annotations

from api.ocpp.doorbell import Doorbell, event_waker

_bell = Doorbell()
listen = _bell.listen
ring = _bell.ring

__all__ = ["event_waker", "listen", "ring"]
