#!/usr/bin/env python3
"""The bare reference of issue 3's benchmark targets, for scripts/bench_gateway.py.

What a CSMS built from the `ocpp` library's own example pattern is: `websockets.serve` with the
ocpp2.0.1 subprotocol, one `ocpp.v201.ChargePoint` per connection answering BootNotification
and Heartbeat. No authentication, no admission, no storage. It serves wss with an ECDSA server
certificate and asks for (optional) client certificates from the station CA, so a profile-3
station's handshake costs it what it costs ChargeCA's listener at the TLS layer.

Run in the same benchmark as ChargeCA, on the same core, it turns "~20 s for a 10,000-station
boot storm on a machine like ours" into a number measured on this machine, now: this machine's
speed varies with what else runs on its host, so a ratio to the reference is the comparable one.

    bench_reference_server.py HOST PORT CHAIN_FILE KEY_FILE CLIENT_CA_FILE
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import sys
from datetime import datetime, timezone

import websockets
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call_result
from ocpp.v201.enums import Action, RegistrationStatusEnumType

# Deeper than websockets' default of 100, which a boot storm overflows (issue 3); the reference
# should lose no connection either, or its wall time would measure SYN retries.
BACKLOG = 4096


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class Station(ChargePoint):
    @on(Action.boot_notification)
    def on_boot_notification(self, charging_station, reason, **kwargs):
        return call_result.BootNotification(current_time=_now(), interval=300,
                                            status=RegistrationStatusEnumType.accepted)

    @on(Action.heartbeat)
    def on_heartbeat(self, **kwargs):
        return call_result.Heartbeat(current_time=_now())


async def _serve_station(websocket) -> None:
    identity = websocket.request.path.rstrip("/").rsplit("/", 1)[-1]
    try:
        await Station(identity, websocket).start()
    except websockets.ConnectionClosed:
        pass


async def main(host: str, port: int, chain_file: str, key_file: str, client_ca_file: str) -> None:
    logging.basicConfig(level=logging.WARNING)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain_file, key_file)
    context.load_verify_locations(cafile=client_ca_file)
    context.verify_mode = ssl.CERT_OPTIONAL
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with websockets.serve(_serve_station, host, port, subprotocols=["ocpp2.0.1"], ssl=context,
                                backlog=BACKLOG):
        print("listening", flush=True)
        await stop.wait()


if __name__ == "__main__":
    if len(sys.argv) != 6:
        raise SystemExit(__doc__.strip().splitlines()[-1].strip())
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), *sys.argv[3:]))
