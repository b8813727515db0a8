"""A station's network connection profiles (B09/B10): the slots SetNetworkProfile fills and the
OCPPCommCtrlr.NetworkConfigurationPriority list that orders them.

Like a real station it refuses a profile lower than the one in use (A05.FR.10) and answers the
priority list through the device model, so an upgrade can be driven and inspected end to end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class NetworkProfiles:
    security_profile: int
    slots: dict[int, dict[str, Any]] = field(default_factory=dict)
    priority: list[int] = field(default_factory=lambda: [1])
    answer: str | None = None          # force an answer (e.g. "Failed") for conformance cases

    def variables(self) -> dict[tuple[str, str], Any]:
        return {("OCPPCommCtrlr", "NetworkConfigurationPriority"):
                lambda: ",".join(str(slot) for slot in self.priority)}

    def set_network_profile(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self.answer:
            return {"status": self.answer}
        data = payload["connectionData"]
        if data["securityProfile"] < self.security_profile:
            return {"status": "Rejected"}
        self.slots[payload["configurationSlot"]] = data
        return {"status": "Accepted"}

    def set_priority(self, value: str) -> str:
        try:
            slots = [int(item) for item in value.split(",") if item.strip()]
        except ValueError:
            return "Rejected"
        if any(slot not in self.slots and slot not in self.priority for slot in slots):
            return "Rejected"
        self.priority = slots
        return "Accepted"

    def preferred(self) -> dict[str, Any] | None:
        """The connection data the station would use after its next reboot."""
        return self.slots.get(self.priority[0]) if self.priority else None
