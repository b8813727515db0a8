"""Shared steps of the provisioning cases (B): a booted simulated station whose device model
ChargeCA has (its FullInventory asked and stored), the operator's typed commands, and what the
CSMS kept, read over REST."""

from __future__ import annotations

import asyncio
from typing import Any

from core_support import booted_station, command, eventually, get, received
from trust_anchor_support import booted, requests

from simulator.station import SimulatedStation


async def booted_with_policy(csms, station_id: str, policy: str | None = None) -> SimulatedStation:
    """Connected (not booted yet), its boot policy set by the operator first when given."""
    password = csms.add_station(station_id)
    if policy:
        answer = await csms.rest.put(f"/api/v1/stations/{station_id}/boot-policy", json={"status": policy},
                                     headers=csms.headers())
        assert answer.status_code == 200 and answer.json()["boot_policy"] == policy
    station = csms.simulator(station_id, password=password)
    await station.connect()
    await csms.connected(station_id)
    return station


async def inventoried(csms, station_id: str, prepare=None) -> SimulatedStation:
    """Booted; ``prepare(station)`` sets its device model; then its FullInventory stored."""
    station = await booted_station(csms, station_id)
    if prepare is not None:
        prepare(station)
    await full_inventory(csms, station_id)
    return station


async def full_inventory(csms, station_id: str, request_id: int = 1) -> dict[str, Any]:
    """GetBaseReport FullInventory by the typed command; the report row once it has ended."""
    sent = await command(csms, station_id, "GetBaseReport", {"request_id": request_id,
                                                             "report_base": "FullInventory"})
    assert sent.status_code == 200 and sent.json()["result"]["status"] == "Accepted", sent.text
    return await report_row(csms, station_id, request_id)


async def report_row(csms, station_id: str, request_id: int, ended=("complete", "incomplete", "truncated")):
    async def ended_row():
        rows = await get(csms, f"/api/v1/stations/{station_id}/device-reports")
        return next((r for r in rows if r["request_id"] == request_id and r["status"] in ended), None)
    # The report arrives in parts after the answer, each stored before the next is sent: under a
    # loaded CI machine that took more than eventually's default 5 s (twice in a full run).
    return await eventually(ended_row, timeout=15)


async def stored(csms, station_id: str, component: str, variable: str) -> dict[str, Any]:
    (row,) = await get(csms, f"/api/v1/stations/{station_id}/device-model?component={component}&variable={variable}")
    return row


def actual(row: dict[str, Any]) -> str | None:
    return next((a["value"] for a in row["attributes"] if a["type"] == "Actual"), None)


def entry(component: str, variable: str, value: str | None = None, **more: Any) -> dict[str, Any]:
    """A get/set_variable_data entry as the typed commands take it (snake_case)."""
    data: dict[str, Any] = {"component": {"name": component}, "variable": {"name": variable}, **more}
    if value is not None:
        data["attribute_value"] = value
    return data


__all__ = [
    "actual",
    "base_report_case",
    "booted_station",
    "booted_with_policy",
    "command",
    "entry",
    "eventually",
    "full_inventory",
    "get",
    "inventoried",
    "received",
    "report_part",
    "report_row",
    "stored",
    "streams_its_report",
]


async def reset_case(csms, case: str, reset_type: str, evse_id: int | None, *, transaction: bool,
                     answer_status: str, boot_reason: str | None) -> dict[str, Any]:
    """A Reset case of §5.1: the station booted (a transaction running with ``transaction``), the
    operator's Reset (an officer's for the whole station), the station's answer, then what it
    does: ends the transaction (stoppedReason by the type), and boots again with ``boot_reason``
    (None: an EVSE reset, no reboot). Returns the kept Reset once the CSMS recorded its end."""
    from core_support import Transactions, answer

    station = await booted_station(csms, case)
    transactions = Transactions(station) if transaction else None
    if transactions is not None:
        await transactions.send("Started", "CablePluggedIn", info={"chargingState": "Charging"})

    ended = asyncio.Event()

    async def then(_st, _payload):
        if transactions is not None:
            stopped = "ImmediateReset" if reset_type == "Immediate" else "Local"
            await transactions.send("Ended", "ResetCommand" if reset_type == "Immediate" else "StopAuthorized",
                                    info={"stoppedReason": stopped})
        ended.set()
    answer(station, "Reset", {"status": answer_status}, then=then)
    body: dict[str, Any] = {"type": reset_type}
    if evse_id is not None:
        body["evse_id"] = evse_id
    sent = await command(csms, case, "Reset", body, role="officer" if evse_id is None else "operator")
    assert sent.status_code == 200 and sent.json()["result"]["status"] == answer_status, sent.text
    (request,) = received(station, "Reset")
    assert request == {"type": reset_type, **({"evseId": evse_id} if evse_id is not None else {})}
    await asyncio.wait_for(ended.wait(), 5)
    if boot_reason is not None:  # the station restarts: a new connection, a new boot
        await station.reconnect()
        assert (await station.boot(boot_reason))["status"] == "Accepted"
    final = "rebooted" if boot_reason is not None else answer_status

    async def kept():
        rows = await get(csms, f"/api/v1/stations/{case}/resets")
        return rows[0] if rows and rows[0]["status"] == final else None
    return await eventually(kept)


def report_part(request_id: int, seq_no: int, tbc: bool, variable: str, value: str) -> dict:
    return {"requestId": request_id, "generatedAt": "2025-01-01T00:00:00Z", "seqNo": seq_no, "tbc": tbc,
            "reportData": [{"component": {"name": "SecurityCtrlr"}, "variable": {"name": variable},
                            "variableAttribute": [{"type": "Actual", "value": value, "mutability": "ReadOnly"}],
                            "variableCharacteristics": {"dataType": "string", "supportsMonitoring": False}}]}


def streams_its_report(station, parts: int) -> asyncio.Future:
    """GetBaseReport handler: Accepted, then ``parts`` NotifyReports; the future gets the answers."""
    acknowledged: asyncio.Future = asyncio.get_running_loop().create_future()

    def get_base_report(st, payload):
        async def stream():
            await asyncio.sleep(0)  # after the answer is on the wire
            answers = []
            for seq_no in range(parts):
                part = report_part(payload["requestId"], seq_no, seq_no < parts - 1, f"Variable{seq_no}", str(seq_no))
                answers.append(await st.call("NotifyReport", part))
            acknowledged.set_result(answers)
        st._spawn(stream())
        return {"status": "Accepted"}

    station.handlers["GetBaseReport"] = get_base_report
    return acknowledged


async def base_report_case(tls_csms, case: str, report_base: str, parts: int) -> None:
    """TC_B_12/13: GetBaseReport by the operator (raw call), the station's stream of ``parts``
    NotifyReports acknowledged, the report kept complete with what it listed."""
    station = await booted(tls_csms, case)
    acknowledged = streams_its_report(station, parts)

    answer = await tls_csms.post_call(case, "GetBaseReport", {"requestId": 12, "reportBase": report_base})

    assert answer.status_code == 200, answer.text
    assert answer.json()["response"] == {"status": "Accepted"}
    (sent,) = requests(station, "GetBaseReport")
    assert sent["requestId"] >= 0 and sent["reportBase"] == report_base
    assert await asyncio.wait_for(acknowledged, 5) == [{}] * parts  # every part acknowledged
    report = await report_row(tls_csms, case, 12)
    assert (report["kind"], report["report_base"], report["answer"], report["status"], report["parts"]) == \
        ("GetBaseReport", report_base, "Accepted", "complete", parts)
    stored = await get(tls_csms, f"/api/v1/stations/{case}/device-model?component=SecurityCtrlr")
    assert sorted(row["variable"] for row in stored) == [f"Variable{n}" for n in range(parts)]
    assert all(row["attributes"][0]["mutability"] == "ReadOnly" for row in stored)
