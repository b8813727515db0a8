"""Every field of every request a station may send, with hostile values, over a real WebSocket on
SQLite and PostgreSQL (tests/support/ocpp_probes.py): NUL and control characters, lone
surrogates, the longest strings of 4-byte characters, integers past 32 and 64 bits, numbers at a
double's ends, date-times that leave the years 1-9999 once in UTC, values outside an enum.

Each probe is answered (a CALLRESULT, or a CALLERROR that names its problem), never with an
InternalError, and the connection stays usable: the walk goes on on the same connection. A
probe the database cannot store must not take the connection's later messages with it, nor
the message log's batch it is written in."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from ocpp_probes import probes
from ocpp_support import BOOT, open_csms

from api.csms.routes import ROUTES
from api.ocpp.message_log.recorder import WRITE_FAILED

pytestmark = pytest.mark.slow

# Heartbeat has no fields; BootNotification is walked too: it is answered, whatever its values.
ACTIONS = sorted(action for action in ROUTES if action != "Heartbeat")


@pytest.fixture
async def csms(pki):
    async for made in open_csms(pki):
        yield made


async def _connected(csms, station_id: str, password: str):
    raw = await csms.connect_raw(station_id, password)
    await raw.boot()
    return raw


@pytest.mark.parametrize("action", ACTIONS)
async def test_every_field_of_a_request_with_hostile_values_is_answered_without_an_internal_error(csms, action):
    station_id = f"CS-PROBE-{action[:20]}"
    password = csms.add_station(station_id)
    station = await _connected(csms, station_id, password)
    numbers = itertools.count()
    wrong: list[str] = []
    for name, payload in probes(action):
        message_id = f"probe-{next(numbers)}"
        try:
            frame = await station.send_raw(f'[2,"{message_id}","{action}",{payload}]')
        except (asyncio.TimeoutError, ConnectionError) as exc:
            wrong.append(f"{name}: no answer ({type(exc).__name__})")
            station = await _connected(csms, station_id, password)
            continue
        if frame[1] != message_id:
            wrong.append(f"{name}: answered as {frame[1]!r}")
        elif frame[0] == 4 and (frame[2] == "InternalError" or not frame[3]):
            wrong.append(f"{name}: {frame[2]} {frame[3]!r}")
        elif frame[0] not in (3, 4):
            wrong.append(f"{name}: {frame!r}")
    assert not wrong, "\n".join(wrong)
    # Every frame went into the message log: none its database could not take.
    await csms.gateway.message_log.flush()
    log = csms.gateway.message_log
    assert log.dropped[WRITE_FAILED] == 0 and log.written >= 2 * next(numbers), log.dropped
    # Still one usable connection, and the station still boots as itself.
    assert (await station.call("BootNotification", BOOT))[0] == 3
    assert "currentTime" in (await station.call("Heartbeat", {}))[2]
