"""The NATS connection of a node, and the subjects the nodes talk on.

Subjects (all under ``chargeca.``):

- ``call.<node>``: relayed CSMS calls, request/reply, to the one node named. Per node rather
  than per station: the presence row names the node already, a node subscribes once instead of
  once per station (50,000 subscriptions per node, re-made on every reconnect storm), and the
  epoch in the request does what a per-station subject would (only the holder at that epoch
  answers with a send).
- ``presence``: "station X is now held by node N at epoch E" and "released", to every node.
- ``notice.<what>``: TLS reloads, outbox rows stored, disconnect requests: every node looks at once.

Payloads are JSON objects.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from api.cluster.config import ClusterConfig, ClusterRefused

log = logging.getLogger("chargeca.cluster")

PREFIX = "chargeca"
PRESENCE = f"{PREFIX}.presence"
TLS_RELOAD = f"{PREFIX}.notice.tls"
OUTBOX_DUE = f"{PREFIX}.notice.outbox"
DISCONNECT = f"{PREFIX}.notice.disconnect"
_TOKEN = re.compile(r"[^A-Za-z0-9_-]")


def call_subject(node: str) -> str:
    """The node's relay subject; a node name NATS cannot carry as one token is hashed."""
    token = node if not _TOKEN.search(node) else hashlib.sha256(node.encode()).hexdigest()[:32]
    return f"{PREFIX}.call.{token}"


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


def decode(data: bytes) -> dict[str, Any]:
    return json.loads(data)


Handler = Callable[[Msg], Awaitable[None]]


class Bus:
    """One NATS connection per node. Messages published by this node are not delivered back to
    it (``no_echo``): every notice is for the others, this node acted already."""

    def __init__(self, client: Client) -> None:
        self.client = client

    @classmethod
    async def connect(cls, config: ClusterConfig) -> "Bus":
        async def quiet(_exc: Exception) -> None:   # reconnects are logged by the callbacks below
            pass

        async def disconnected() -> None:
            if not client.is_connected and client.is_closed:
                return   # closed by us (a refused start, a stop): nothing is being lost
            log.warning("lost NATS at %s; reconnecting (relayed calls fail until then)", config.nats_url)

        async def reconnected() -> None:
            log.warning("NATS at %s reachable again", config.nats_url)

        client = Client()
        try:
            # Reconnects are unbounded once connected (a NATS restart must not stop the node),
            # and nats-py applies that to the first connect too: the start-up budget bounds it.
            async with asyncio.timeout(config.connect_timeout):
                await client.connect(config.nats_url, name=f"chargeca-{config.node_id}", no_echo=True,
                                     connect_timeout=config.connect_timeout, allow_reconnect=True,
                                     max_reconnect_attempts=-1, reconnect_time_wait=0.5, error_cb=quiet,
                                     disconnected_cb=disconnected, reconnected_cb=reconnected)
        except (OSError, TimeoutError, nats.errors.Error) as exc:
            await client.close()
            detail = f": {type(exc).__name__} {exc}".rstrip() if not isinstance(exc, TimeoutError) else ""
            raise ClusterRefused(f"cannot reach NATS at {config.nats_url} (CHARGECA_NATS_URL) within "
                                 f"{config.connect_timeout:g} s{detail}; start it, or unset CHARGECA_NATS_URL "
                                 f"to run one process") from None
        return cls(client)

    async def subscribe(self, subject: str, handler: Handler) -> None:
        await self.client.subscribe(subject, cb=handler)

    async def publish(self, subject: str, message: dict[str, Any]) -> None:
        await self.client.publish(subject, encode(message))

    async def request(self, subject: str, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Raises nats.errors.NoRespondersError (nobody subscribes: the node is gone) or
        nats.errors.TimeoutError."""
        reply = await self.client.request(subject, encode(message), timeout=timeout)
        return decode(reply.data)

    async def close(self) -> None:
        if not self.client.is_closed:
            try:
                await self.client.drain()
            except Exception:  # noqa: BLE001 - stopping anyway
                await self.client.close()
