"""Frames the recorder queued (api/ocpp/message_log/recorder.py), turned into the rows the log
stores (storage/message_log_append.py ``COLUMNS``): redacted, cut to the policy's size.

Runs where the log is written: on the log's helper process (writer_helper.py), or on a worker
thread. Imports the standard library and the redaction only, as the helper does.

A queued frame is a tuple ``(station_id, direction, kind, message_id, action, at, raw)``; ``raw``
is the text as read or written, the bytes of a binary frame, or, for a frame refused unread (over
the listener's read ceiling), its size as an int. Plain values only: the helper receives them
by ``marshal``.
"""

from __future__ import annotations

from collections.abc import Sequence

from api.ocpp.message_log.redaction import PLAIN_ANSWERS, Redactor
from storage.message_log_append import ACTION_MAX, CALL, CALLRESULT, MALFORMED, OUT

# A broken frame is kept for diagnosis, not whole: its first bytes show what went wrong.
MALFORMED_KEEP_BYTES = 2048


def _nothing_to_redact(direction: str, kind: str, action: str | None, text: str) -> bool:
    """A frame the redaction could not change, told without scanning it: ChargeCA's own answer
    to a CALL whose response holds no secret, or a well-formed CALL or CALLRESULT whose payload
    is empty (a station's Heartbeat). Only a well-formed one: its text is a JSON array whose last
    element is the payload, so ``,{}]`` at its end is that payload; a broken frame may end so too
    after a field that needs redacting."""
    if direction == OUT and kind == CALLRESULT and action in PLAIN_ANSWERS:
        return True
    return kind in (CALL, CALLRESULT) and text.endswith(",{}]")


class FrameRows:
    """``rows(frames)``: the rows to store for queued frames, in their order."""

    def __init__(self, max_frame_bytes: int, key: bytes) -> None:
        self._frame_limit = max_frame_bytes
        self._redact = Redactor(key).frame_text

    def __call__(self, frames: Sequence[tuple]) -> list[tuple]:
        rows = []
        frame_limit = self._frame_limit
        redact = self._redact
        for station_id, direction, kind, message_id, action, at, raw in frames:
            if isinstance(raw, int):
                rows.append((station_id, direction, kind, message_id, action, at, raw, "", True))
                continue
            if isinstance(raw, bytes):
                size, text = len(raw), raw.decode("utf-8", "replace")
            else:
                text = raw
                size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
            if not _nothing_to_redact(direction, kind, action, text):
                text = redact(text, action)
            if "\x00" in text:  # only a frame that is no JSON can hold one; PostgreSQL text cannot
                text = text.replace("\x00", "\ufffd")
            limit = min(frame_limit, MALFORMED_KEEP_BYTES) if kind == MALFORMED else frame_limit
            truncated = False
            if len(text) > limit or not text.isascii():
                encoded = text.encode("utf-8", "replace")
                if len(encoded) > limit:
                    text, truncated = encoded[:limit].decode("utf-8", "ignore"), True
                elif not text.isascii():
                    text = encoded.decode("utf-8")
            rows.append((station_id, direction, kind, message_id, action[:ACTION_MAX] if action else None,
                         at, size, text, truncated))
        return rows
