"""What a simulated station keeps about its customers (N09/N10), reported and erased on the CSMS's
CustomerInformation.

Records are kept by how a request may name a customer: an idToken, the serial number of a
customer certificate (its hash data), or a customer identifier. A report goes out as
NotifyCustomerInformation parts of at most ``part_size`` characters (seqNo from 0, tbc true on
all but the last); no record is one part with empty data. A clear erases the record after the
report, so a request for both reports what was there.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from simulator.reports import send_after_reply

PART_SIZE = 512


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def key_of(payload: dict[str, Any]) -> str | None:
    """The record a request names, or None when it names none or more than one (Invalid)."""
    named = [name for name in ("idToken", "customerCertificate", "customerIdentifier") if payload.get(name)]
    if len(named) != 1:
        return None
    if named[0] == "idToken":
        return f"idToken:{payload['idToken']['idToken']}"
    if named[0] == "customerCertificate":
        return f"certificate:{payload['customerCertificate']['serialNumber'].lower()}"
    return f"customer:{payload['customerIdentifier']}"


class CustomerData:
    def __init__(self, part_size: int = PART_SIZE) -> None:
        self.records: dict[str, str] = {}
        self.part_size = part_size
        # A status to answer instead of acting (e.g. "Rejected"), for the refused cases.
        self.answer: str | None = None
        self.cleared: list[str] = []

    def keep(self, data: str, *, id_token: str | None = None, certificate_serial: str | None = None,
             customer_identifier: str | None = None) -> None:
        if id_token is not None:
            self.records[f"idToken:{id_token}"] = data
        if certificate_serial is not None:
            self.records[f"certificate:{certificate_serial.lower()}"] = data
        if customer_identifier is not None:
            self.records[f"customer:{customer_identifier}"] = data

    def parts(self, request_id: int, data: str) -> list[dict[str, Any]]:
        chunks = [data[i:i + self.part_size] for i in range(0, len(data), self.part_size)] or [""]
        return [{"data": chunk, "seqNo": number, "tbc": number < len(chunks) - 1, "generatedAt": _now(),
                 "requestId": request_id} for number, chunk in enumerate(chunks)]

    def handle(self, station: Any, payload: dict[str, Any]) -> dict[str, Any]:
        """CustomerInformationRequest: Accepted and what the request asks, Invalid when it names
        no single customer, or the scripted ``answer``."""
        if self.answer is not None:
            return {"status": self.answer}
        key = key_of(payload)
        if key is None:
            return {"status": "Invalid"}
        if payload["report"]:
            send_after_reply(station, "NotifyCustomerInformation", self.parts(payload["requestId"],
                                                                              self.records.get(key, "")))
        if payload["clear"] and self.records.pop(key, None) is not None:
            self.cleared.append(key)
        return {"status": "Accepted"}
