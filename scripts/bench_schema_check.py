"""What schema validation costs the event loop per payload, with and without the quick check in
front of fastjsonschema (api/ocpp/schema_quick.py). Prints numbers; asserts nothing.

Both are timed in the same run, alternating, so that the machine's drift falls on both alike.

    .venv/bin/python scripts/bench_schema_check.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from api.ocpp.validation import REQUEST, schemas  # noqa: E402
from gateway_load import _Session  # noqa: E402 - the charging phase's TransactionEvent

_NOW = "2026-12-05T10:00:00.000Z"


def _payloads() -> dict[str, dict]:
    event, _ = _Session("bench-tx").event("Updated", "MeterValuePeriodic")
    variables = [{"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": f"Variable{n}"},
                  "variableAttribute": [{"type": "Actual", "value": str(n), "mutability": "ReadWrite"}],
                  "variableCharacteristics": {"dataType": "integer", "supportsMonitoring": True, "unit": "W"}}
                 for n in range(20)]
    return {
        "Heartbeat": {},
        "StatusNotification": {"timestamp": _NOW, "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1},
        "TransactionEvent": json.loads(event),
        "NotifyReport": {"requestId": 1, "generatedAt": _NOW, "seqNo": 0, "tbc": True, "reportData": variables},
    }


def _per_call(function, payload, rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        function(payload)
    return (time.perf_counter() - started) / rounds * 1e6


def main() -> None:
    checked = schemas()
    print(f"{checked.report.validators} schemas compiled in {checked.report.seconds:.2f} s "
          f"(validators and quick checks)")
    print(f"{'request':<20} {'fastjsonschema alone':>22} {'quick check first':>18}")
    for action, payload in _payloads().items():
        checked.validate_request(action, payload)  # valid, or this run would time the refusal
        full = checked._validators[(action, REQUEST)]
        with_quick = lambda value, action=action: checked.validate_request(action, value)  # noqa: E731
        rounds = 20_000 if action != "NotifyReport" else 2_000
        alone, quick = [], []
        for _ in range(5):  # alternating, the median of each
            alone.append(_per_call(full, payload, rounds))
            quick.append(_per_call(with_quick, payload, rounds))
        print(f"{action:<20} {sorted(alone)[2]:>19.1f} µs {sorted(quick)[2]:>15.1f} µs")


if __name__ == "__main__":
    main()
