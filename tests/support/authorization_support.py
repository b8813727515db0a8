"""Shared steps of the block C and D conformance cases: a booted simulated station on profile 1,
tokens set up the way an operator does (REST), TransactionEvent payloads, and a station-side
local authorization list that answers SendLocalList and GetLocalListVersion as a station would."""

from __future__ import annotations

from typing import Any

from trust_anchor_support import audit, booted, requests

from simulator.station import SimulatedStation

__all__ = ["booted_station", "add_token", "transaction_event", "master_pass", "stop", "clear_cache", "StationList"]


async def booted_station(csms, station_id: str) -> SimulatedStation:
    return await booted(csms, station_id, profile=1)


async def add_token(csms, value: str, token_type: str = "ISO14443", **fields: Any) -> dict:
    answer = await csms.rest.post("/api/v1/id-tokens", json={"id_token": value, "type": token_type, **fields},
                                  headers=csms.headers("operator"))
    assert answer.status_code == 201, answer.text
    return answer.json()


def transaction_event(event_type: str, trigger: str, seq_no: int, transaction_id: str, *, id_token: str | None = None,
                      token_type: str = "ISO14443", evse_id: int = 1, **info: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"eventType": event_type, "timestamp": "2025-01-01T00:00:00Z", "triggerReason": trigger,
                               "seqNo": seq_no, "transactionInfo": {"transactionId": transaction_id, **info},
                               "evse": {"id": evse_id, "connectorId": 1}}
    if id_token is not None:
        payload["idToken"] = {"idToken": id_token, "type": token_type}
    return payload


async def master_pass(csms, station_id: str) -> SimulatedStation:
    """TC_C_47-49: a master-pass group, a master pass, two running transactions, the pass Authorized."""
    answer = await csms.rest.put("/api/v1/id-tokens/master-pass-groups", json={"group_id_token": "MASTERPASS"},
                                 headers=csms.headers("operator"))
    assert answer.status_code == 200, answer.text
    await add_token(csms, "04MASTER", group_id_token="MASTERPASS")
    await add_token(csms, "04DRIVER")
    station = await booted_station(csms, station_id)
    for evse, transaction in ((1, "TX-1"), (2, "TX-2")):
        started = await station.call("TransactionEvent", transaction_event(
            "Started", "Authorized", 0, transaction, id_token="04DRIVER", evse_id=evse))
        assert started["idTokenInfo"]["status"] == "Accepted"
    authorized = await station.call("Authorize", {"idToken": {"idToken": "04MASTER", "type": "ISO14443"}})
    assert authorized["idTokenInfo"]["status"] == "Accepted"
    assert authorized["idTokenInfo"]["groupIdToken"] == {"idToken": "MASTERPASS", "type": "Central"}
    return station


async def stop(station, transaction: str, evse: int) -> dict:
    """The station ends ``transaction`` because the master pass was presented."""
    return await station.call("TransactionEvent", transaction_event(
        "Ended", "StopAuthorized", 1, transaction, id_token="04MASTER", evse_id=evse, stoppedReason="MasterPass"))



async def clear_cache(csms, station_id: str, station_answer: str) -> tuple[dict, list[dict], list]:
    """TC_C_37/38: the operator's ClearCache through REST, the station answering ``station_answer``;
    the REST answer, what the station received, and the audit entries of the call's result."""
    station = await booted_station(csms, station_id)
    station.handlers["ClearCache"] = lambda _st, _payload: {"status": station_answer}
    answer = await csms.rest.post(f"/api/v1/stations/{station_id}/commands/ClearCache",
                                  headers=csms.headers("operator"))
    assert answer.status_code == 200, answer.text
    return answer.json(), requests(station, "ClearCache"), audit(csms, "station.call.result", station_id)


class StationList:
    """The station's side of D01/D02: it keeps its list and version as the spec says it must,
    answering each SendLocalList with ``answers`` in turn (then Accepted)."""

    def __init__(self, station: SimulatedStation, *, version: int = 0, items: int | None = 100,
                 size: int | None = 20_000, answers: list[str] | None = None) -> None:
        self.version = version
        self.entries: dict[tuple[str, str], dict] = {}
        self.answers = list(answers or [])
        self.requests: list[dict] = []
        for name, value in (("ItemsPerMessage", items), ("BytesPerMessage", size)):
            if value is None:
                station.device_model.remove("LocalAuthListCtrlr", name)
            else:
                station.device_model.set("LocalAuthListCtrlr", name, value)
        station.handlers["SendLocalList"] = self._send_local_list
        station.handlers["GetLocalListVersion"] = lambda _st, _payload: {"versionNumber": self.version}

    def _send_local_list(self, _station, payload: dict) -> dict:
        self.requests.append(payload)
        status = self.answers.pop(0) if self.answers else "Accepted"
        if status != "Accepted":
            return {"status": status}
        if payload["updateType"] == "Full":
            self.entries = {}
        for item in payload.get("localAuthorizationList", []):
            key = (item["idToken"]["idToken"], item["idToken"]["type"])
            if "idTokenInfo" in item:
                self.entries[key] = item["idTokenInfo"]
            else:
                self.entries.pop(key, None)
        self.version = payload["versionNumber"]
        return {"status": "Accepted"}

    @property
    def tokens(self) -> dict[str, str]:
        return {value: info["status"] for (value, _type), info in self.entries.items()}
