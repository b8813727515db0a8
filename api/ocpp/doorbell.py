"""A doorbell: "something was just stored for you, look now", rung from any thread.

Workers that otherwise poll the database listen on one; whoever stores work for them rings it
so that this process's workers act at once instead of at their next poll. Workers on other
processes (other nodes, or a service the CLI wrote for) find the rows on their poll.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Doorbell:
    def __init__(self) -> None:
        self._listeners: set[Callable[[], None]] = set()

    def listen(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call ``wake`` on every ring until the returned function is called."""
        self._listeners.add(wake)
        return lambda: self._listeners.discard(wake)

    def ring(self) -> None:
        """Wake every listener. Safe from any thread of the process."""
        for wake in list(self._listeners):
            wake()


def event_waker(event: asyncio.Event, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """A ``wake`` that sets ``event`` on ``loop``, whichever thread rings."""
    return lambda: loop.call_soon_threadsafe(event.set)
