"""The outbox's doorbell: "a call for a station was just stored, look now".

Whoever stores an OutboundCall rings (the SignCertificate follow-up, the REST API, a retry);
the outbox workers of this process wake up instead of waiting for their next periodic scan.
Workers on other nodes find the row on their scan. Ringing with no worker listening (the CLI)
does nothing: the row waits in the database all the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

_listeners: set[Callable[[], None]] = set()


def listen(wake: Callable[[], None]) -> Callable[[], None]:
    """Call ``wake`` on every ring until the returned function is called."""
    _listeners.add(wake)
    return lambda: _listeners.discard(wake)


def ring() -> None:
    """Wake every listening worker. Safe from any thread of the process."""
    for wake in list(_listeners):
        wake()


def event_waker(event: asyncio.Event, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """A ``wake`` that sets ``event`` on ``loop``, whichever thread rings."""
    return lambda: loop.call_soon_threadsafe(event.set)
