"""Display messages on a simulated station (O01-O06): what it shows, set, reported and cleared
by the CSMS.

Answers follow the spec's outcomes: NotSupportedMessageFormat for HTML (a text display),
NotSupportedPriority / NotSupportedState for what ``unsupported_priorities`` / ``unsupported_states``
name, UnknownTransaction for a transactionId not in ``transactions``; otherwise Accepted, a
message with an id it has replacing that one. GetDisplayMessages answers Unknown when nothing
matches, else Accepted and NotifyDisplayMessages parts of ``per_part`` messages.
"""

from __future__ import annotations

from typing import Any

from simulator.reports import in_groups, send_after_reply

_FORMATS = {"ASCII", "UTF8", "URI"}


class Display:
    def __init__(self, per_part: int = 2) -> None:
        self.messages: dict[int, dict[str, Any]] = {}
        self.per_part = per_part
        self.transactions: set[str] = set()
        self.unsupported_priorities: set[str] = set()
        self.unsupported_states: set[str] = set()

    def _status(self, message: dict[str, Any]) -> str:
        if message["message"]["format"] not in _FORMATS:
            return "NotSupportedMessageFormat"
        if message["priority"] in self.unsupported_priorities:
            return "NotSupportedPriority"
        if message.get("state") in self.unsupported_states:
            return "NotSupportedState"
        if message.get("transactionId") is not None and message["transactionId"] not in self.transactions:
            return "UnknownTransaction"
        return "Accepted"

    def set_display_message(self, _station: Any, payload: dict[str, Any]) -> dict[str, Any]:
        message = payload["message"]
        status = self._status(message)
        if status == "Accepted":
            self.messages[message["id"]] = message
        return {"status": status}

    def get_display_messages(self, station: Any, payload: dict[str, Any]) -> dict[str, Any]:
        ids = set(payload.get("id") or ())
        chosen = [m for i, m in sorted(self.messages.items())
                  if (not ids or i in ids) and payload.get("priority", m["priority"]) == m["priority"]
                  and payload.get("state", m.get("state")) == m.get("state")]
        if not chosen:
            return {"status": "Unknown"}
        groups = in_groups(chosen, self.per_part)
        send_after_reply(station, "NotifyDisplayMessages", [
            {"requestId": payload["requestId"], "tbc": number < len(groups) - 1, "messageInfo": list(group)}
            for number, group in enumerate(groups)])
        return {"status": "Accepted"}

    def clear_display_message(self, _station: Any, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted" if self.messages.pop(payload["id"], None) is not None else "Unknown"}
