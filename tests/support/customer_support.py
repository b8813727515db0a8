"""Shared steps of the customer information, monitoring, display and data transfer cases (N, O,
P): the operator's requests over REST and what the CSMS kept, read back over REST."""

from __future__ import annotations

from typing import Any

import httpx
from core_support import command, eventually, get, received

ID_TOKEN = {"idToken": "04A2B3C4D5E6F7", "type": "ISO14443"}
REST_ID_TOKEN = {"id_token": "04A2B3C4D5E6F7", "type": "ISO14443"}
# Hash data of a customer's (contract) certificate, as CustomerInformation names one.
CERTIFICATE = {"hash_algorithm": "SHA256", "issuer_name_hash": "a" * 64, "issuer_key_hash": "b" * 64,
               "serial_number": "1f2e3d4c"}
PERSONAL = "Jane Doe; card 04A2B3C4D5E6F7; sessions 2025-05-01, 2025-05-14; " * 12   # > 512: two parts


async def customer_information(csms, station_id: str, **body: Any) -> httpx.Response:
    """The officer's CustomerInformation (the request id drawn by ChargeCA)."""
    return await csms.rest.post(f"/api/v1/stations/{station_id}/customer-information", json=body,
                                headers=csms.headers("officer"))


async def customer_report(csms, station_id: str, request_id: int, *, complete: bool = True) -> dict[str, Any]:
    """The request as an auditor reads it, once its report is complete (or at once)."""
    async def read():
        row = await get(csms, f"/api/v1/stations/{station_id}/customer-information/{request_id}")
        return row if row["complete"] or not complete else None
    return await eventually(read)


async def sent(csms, station, action: str, body: dict[str, Any] | None, *, role: str = "operator") -> dict[str, Any]:
    """A typed command the station answers; returns its typed result."""
    response = await command(csms, station.identity, action, body, role=role)
    assert response.status_code == 200 and response.json()["status"] == "answered", response.text
    return response.json()["result"]


async def monitors(csms, station_id: str, **query: Any) -> list[dict[str, Any]]:
    return await get(csms, f"/api/v1/stations/{station_id}/monitors?" + "&".join(f"{k}={v}" for k, v in
                                                                               query.items()))


def monitor(component: str, variable: str, kind: str, value: float, severity: int, **extra: Any) -> dict[str, Any]:
    """A SetMonitoringData entry as the typed command takes it."""
    return {"component": {"name": component}, "variable": {"name": variable}, "type": kind, "value": value,
            "severity": severity, **extra}


def message(message_id: int, content: str, *, priority: str = "NormalCycle", fmt: str = "UTF8",
            language: str | None = None, **extra: Any) -> dict[str, Any]:
    """A MessageInfo as the typed SetDisplayMessage takes it."""
    text = {"format": fmt, "content": content, **({"language": language} if language else {})}
    return {"id": message_id, "priority": priority, "message": text, **extra}


async def display_messages(csms, station_id: str) -> dict[int, dict[str, Any]]:
    return {row["message_id"]: row for row in await get(csms, f"/api/v1/stations/{station_id}/display-messages")}


__all__ = ["eventually", "get", "received"]
