"""At most ``[rest] max_active_requests`` requests worked on at once (api/core/work_slots.py says
why); the others wait their turn, in order, costing nothing meanwhile.

Around the whole application, so a request's every step counts (its token's check, its body's
validation, its database work), except its waits on its client: reading the body and sending the
answer give the slot up, so that a slow client (a large export read slowly, a firmware image sent
slowly) never holds one. A wait for a station's answer gives it up too (api/ocpp/gateway.py).
``GET /metrics`` shows the turns taken and the requests waiting for one (``RequestTurns.now``).
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.core.work_slots import WorkSlots, released


class RequestTurns:
    """The application's turns, on the event loop serving it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots: tuple[asyncio.AbstractEventLoop, WorkSlots] | None = None

    def now(self) -> WorkSlots:
        # An application is served by one loop in production; a test may serve it from several
        # in turn, and a waiter belongs to its loop.
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, WorkSlots(self.limit))
        return self._slots[1]


class ActiveRequests:
    def __init__(self, app: ASGIApp, *, turns: RequestTurns) -> None:
        self.app = app
        self.turns = turns

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def receive_released() -> Message:
            async with released():
                return await receive()

        async def send_released(message: Message) -> None:
            async with released():
                await send(message)

        async with self.turns.now().held():
            await self.app(scope, receive_released, send_released)
