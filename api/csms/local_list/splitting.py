"""Cutting a local-list update into SendLocalList messages the station takes (D01):
at most LocalAuthListCtrlr.ItemsPerMessage entries and BytesPerMessage bytes each.

The bytes counted are the whole OCPP-J CALL frame as it goes on the wire (compact JSON, UTF-8),
with the longest message id we send, so a message that fits here fits at the station.
A full update split in n messages is one Full message and n-1 Differential ones, each with the
next version: a differential's versionNumber is the list's version after it (SendLocalListRequest).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from api.core.refusal import Refusal
from api.csms.local_list.service import DIFFERENTIAL, FULL, Entry
from storage.types import INT32_MAX

# [2,"<message id>","SendLocalList",{...}]: the message id is a UUID (36 characters).
_FRAME = len(json.dumps([2, "x" * 36, "SendLocalList", {}], separators=(",", ":")))


@dataclass(frozen=True)
class Message:
    update_type: str
    version: int
    entries: tuple[Entry, ...]

    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"versionNumber": self.version, "updateType": self.update_type}
        if self.entries:
            payload["localAuthorizationList"] = [entry.payload() for entry in self.entries]
        return payload


def frame_bytes(payload: dict[str, Any]) -> int:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return _FRAME - 2 + len(body)


def split(update_type: str, first_version: int, entries: Sequence[Entry], *, items: int, size: int) -> list[Message]:
    """The messages of one update, in the order they must be sent. An empty full update is one
    Full message without a list (it empties the station's list); an empty differential is none."""
    messages = _split(update_type, first_version, entries, items=items, size=size)
    if messages and messages[-1].version > INT32_MAX and update_type == FULL:
        # A station may report 2147483647 (GetLocalListVersion). A Full update replaces the list
        # whatever its version, so it starts again at 1 (0 says "no list"); numbered above the
        # last, it would leave OCPP's 32 bits and no full update could ever reach that station.
        messages = _split(update_type, 1, entries, items=items, size=size)
    if messages and messages[-1].version > INT32_MAX:
        # A differential must number the list above the station's version: only a Full can go on.
        raise Refusal("local_list.version",
                      f"the update would need versions up to {messages[-1].version}, past the largest a "
                      f"SendLocalList can carry ({INT32_MAX}): the list is at version {first_version - 1}; "
                      "send a full update, which numbers the list from 1 again")
    return messages


def _split(update_type: str, first_version: int, entries: Sequence[Entry], *, items: int,
           size: int) -> list[Message]:
    if not entries:
        return [Message(FULL, first_version, ())] if update_type == FULL else []
    # Counted with the longest update type and version a message can carry: never an underestimate.
    empty = frame_bytes({"versionNumber": INT32_MAX, "updateType": DIFFERENTIAL, "localAuthorizationList": []})
    chunks: list[list[Entry]] = []
    used = 0
    for entry in entries:
        cost = len(json.dumps(entry.payload(), separators=(",", ":"), ensure_ascii=False).encode())
        if empty + cost > size:
            raise Refusal("local_list.entry_too_large",
                          f"the {entry.type} token {entry.id_token!r} alone makes a SendLocalList larger than the "
                          f"station's BytesPerMessage ({size})")
        if chunks and len(chunks[-1]) < items and used + 1 + cost <= size:
            chunks[-1].append(entry)
            used += 1 + cost   # the comma before it
        else:
            chunks.append([entry])
            used = empty + cost
    return [Message(update_type if i == 0 else DIFFERENTIAL, first_version + i, tuple(chunk))
            for i, chunk in enumerate(chunks)]
