"""Reports a simulated station sends in parts once its answer to the request is out (customer
information, monitoring reports, display messages)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def in_groups(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def send_after_reply(station: Any, action: str, parts: list[dict[str, Any]]) -> None:
    """Each part in order, after the answer to the current CSMS call (the CSMS waits for it first)."""
    async def send() -> None:
        for part in parts:
            await station.call(action, part)
    station.after_reply(send)
