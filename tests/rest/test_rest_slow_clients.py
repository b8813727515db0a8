"""Slow REST clients over real sockets: a request not complete in time is answered 408 and closed.

uvicorn alone never cuts a client that sends its request a byte at a time; the server
`chargeca serve` runs does (api/rest/serving.py), while normal requests go on being served.
"""

from __future__ import annotations

import asyncio
import time

import httpx
from rest_support import running_server

TIMEOUT = 2
SLOW = 50
HEAD = b"GET /openapi.json HTTP/1.1\r\nHost: chargeca\r\nUser-Agent: slow\r\n\r\n"
BODY_HEAD = (b"POST /api/v1/tokens HTTP/1.1\r\nHost: chargeca\r\nContent-Type: application/json\r\n"
             b"Content-Length: 200\r\n\r\n")


async def _dribble(port: int, prefix: bytes, dribbled: bytes) -> tuple[float, bytes]:
    """Send ``prefix`` at once, then ``dribbled`` one byte every 0.5 s; seconds until the server
    closed the connection, and what it said."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    answer = b""

    async def read() -> None:
        nonlocal answer
        while chunk := await reader.read(4096):
            answer += chunk

    reading = asyncio.create_task(read())
    try:
        writer.write(prefix)
        for byte in dribbled:
            if reading.done():
                break
            writer.write(bytes([byte]))
            await asyncio.sleep(0.5)
        await asyncio.wait_for(reading, TIMEOUT + 3)
    except (ConnectionError, TimeoutError):
        pass
    finally:
        writer.close()
    return (time.monotonic() - started if reading.done() else float("inf")), answer


async def _normal_request(url: str, after: float = 0) -> tuple[int, float]:
    await asyncio.sleep(after)
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        started = time.monotonic()
        answer = await client.get("/openapi.json")
        return answer.status_code, time.monotonic() - started


async def test_clients_that_never_finish_a_request_are_cut_while_others_are_served(sqlite_pki):
    with running_server(sqlite_pki.ctx, f"request_timeout_seconds = {TIMEOUT}") as url:
        port = int(url.rsplit(":", 1)[1])
        assert (await _normal_request(url))[0] == 200  # the document is built once, before the clock runs
        slow = [_dribble(port, b"", HEAD) for _ in range(SLOW - 10)]
        slow += [_dribble(port, BODY_HEAD, b"{" + b" " * 100) for _ in range(10)]  # head complete, body not
        *cut, normal = await asyncio.gather(*slow, _normal_request(url, after=1))
    assert normal[0] == 200 and normal[1] < 1.0
    closed_after = sorted(seconds for seconds, _ in cut)
    assert closed_after[-1] <= TIMEOUT + 1.0, closed_after
    assert closed_after[0] >= TIMEOUT - 0.5, closed_after
    assert all(answer.startswith(b"HTTP/1.1 408 ") for _, answer in cut)


async def test_connections_beyond_the_limit_are_answered_503_until_slow_ones_are_cut(sqlite_pki):
    with running_server(sqlite_pki.ctx, f"request_timeout_seconds = {TIMEOUT}\nmax_concurrency = 4") as url:
        port = int(url.rsplit(":", 1)[1])
        holders = [await asyncio.open_connection("127.0.0.1", port) for _ in range(4)]
        for _, writer in holders:
            writer.write(b"GET / HTTP/1.1\r\n")  # and nothing more
        await asyncio.sleep(0.3)
        assert (await _normal_request(url))[0] == 503
        await asyncio.sleep(TIMEOUT + 0.5)
        assert (await _normal_request(url))[0] == 200
        for _, writer in holders:
            writer.close()
