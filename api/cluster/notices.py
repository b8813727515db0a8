"""What every node must hear at once, not at its next poll: sent over NATS as notices.

- A server-certificate rotation or root switch reloaded this node's TLS material: every node
  reloads its own from the database (the listener's 60 s watch stays, for a notice lost).
- An outbox row was stored here: every node's outbox looks at once, so the one holding the
  station sends it now, not at its next scan.
- A disconnect request (revocation, kill switch) was stored here: every node's watch looks now.

A notice says only "look"; what to do is read from the database, as the poll would. Notices
heard from others are not sent on again (the doorbells they ring here are marked as remote).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from nats.aio.msg import Msg

from api.cluster.bus import DISCONNECT, OUTBOX_DUE, TLS_RELOAD, Bus
from api.csms.outbox import signal as outbox_signal
from api.ocpp.transport import disconnects
from api.ocpp.transport.disconnects import DisconnectWatch
from api.ocpp.transport.listener import Listeners

log = logging.getLogger("chargeca.cluster.notices")


class Notices:
    def __init__(self, bus: Bus, node: str) -> None:
        self._bus = bus
        self._node = node
        self._unlisten: list[Callable[[], None]] = []
        self._tasks: set[asyncio.Task] = set()
        # Set, in the loop's thread, while a doorbell rings for a notice heard from another node.
        self._remote = threading.local()

    async def start(self, listeners: Listeners, watch: DisconnectWatch) -> "Notices":
        loop = asyncio.get_running_loop()
        if listeners.tls is not None:
            listeners.on_tls_reload.append(lambda: self._send(TLS_RELOAD))

            async def reload(_msg: Msg) -> None:
                try:
                    if await listeners.tls.refresh_if_changed():
                        log.info("TLS material reloaded: another node rotated it")
                except Exception:  # noqa: BLE001 - the watch tries again
                    log.exception("reloading the wss TLS material failed; the previous material stays in use")

            await self._bus.subscribe(TLS_RELOAD, reload)

        def forward(subject: str) -> Callable[[], None]:
            # Rung from any thread (a worker's transaction commits in one): publish on the loop.
            def wake() -> None:
                if not getattr(self._remote, "on", False):
                    loop.call_soon_threadsafe(self._spawn, subject)
            return wake

        self._unlisten.append(outbox_signal.listen(forward(OUTBOX_DUE)))
        self._unlisten.append(disconnects.listen_stored(forward(DISCONNECT)))

        async def outbox_due(_msg: Msg) -> None:
            self._remote.on = True
            try:
                outbox_signal.ring()
            finally:
                self._remote.on = False

        async def disconnect(_msg: Msg) -> None:
            watch.wake()

        await self._bus.subscribe(OUTBOX_DUE, outbox_due)
        await self._bus.subscribe(DISCONNECT, disconnect)
        return self

    async def _send(self, subject: str) -> None:
        try:
            await self._bus.publish(subject, {"node": self._node})
        except Exception:  # noqa: BLE001 - the others' polls find it
            log.warning("could not send %s over NATS; the other nodes find it at their next poll", subject)

    def _spawn(self, subject: str) -> None:
        task = asyncio.create_task(self._send(subject))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        for unlisten in self._unlisten:
            unlisten()
        await asyncio.gather(*self._tasks, return_exceptions=True)
