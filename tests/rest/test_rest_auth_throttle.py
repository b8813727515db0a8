"""Bearer-token guessing over real HTTP: back-off per source address, aggregated audit.

The guesser and the legitimate client are different loopback addresses (127.0.0.2 and
127.0.0.1) talking to one real uvicorn server, in parallel.
"""

from __future__ import annotations

import json
import socket
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from rest_support import SETUP_ACTOR, running_server
from sqlmodel import select

from api.core.audit import run_in_session
from api.operations.tokens import create_token
from api.rest.auth_failures import AUDIT_ACTION, OTHER_SOURCES, FailureLedger, SourceBackoff
from policies.model import RestPolicy
from storage.audit import AuditEntry

GUESSES = 200


def _timed(client: httpx.Client, url: str, token: str) -> tuple[int, float, str | None]:
    started = time.perf_counter()
    answer = client.get(url, headers={"Authorization": f"Bearer {token}"})
    return answer.status_code, time.perf_counter() - started, answer.headers.get("retry-after")


def test_guessing_from_one_address_is_throttled_audited_and_leaves_other_addresses_alone(sqlite_pki):
    ctx = sqlite_pki.ctx
    officer = create_token(ctx, SETUP_ACTOR, "officer", "the real one").token
    token_id = officer.split("_")[1]
    from_elsewhere = httpx.HTTPTransport(local_address="127.0.0.2")
    with running_server(ctx) as url, httpx.Client(base_url=url, timeout=30, transport=from_elsewhere) as guesser, \
            httpx.Client(base_url=url, timeout=30) as legitimate, ThreadPoolExecutor(20) as pool:
        assert _timed(legitimate, "/api/v1/stations", officer)[0] == 200  # verified once, before the storm
        # Latencies are judged against this machine's own pace, measured just before (CI is shared).
        calm = statistics.median(_timed(legitimate, "/api/v1/stations", officer)[1] for _ in range(10))
        guesses = [pool.submit(_timed, guesser, "/api/v1/stations", f"cca_{token_id}_wrong{n:04d}")
                   for n in range(GUESSES)]
        mine = []
        while not all(g.done() for g in guesses) or len(mine) < 10:
            mine.append(_timed(legitimate, "/api/v1/stations", officer))
        guessed = [g.result() for g in guesses]
    statuses = [status for status, _, _ in guessed]
    assert set(statuses) <= {401, 429}
    hashed = statuses.count(401)
    assert hashed <= 12, f"{hashed} guesses reached the hash"
    throttled = [(elapsed, retry) for status, elapsed, retry in guessed if status == 429]
    assert all(retry and int(retry) >= 1 for _, retry in throttled)
    assert statistics.median(elapsed for elapsed, _ in throttled) < max(0.5, 10 * calm)
    assert all(status == 200 for status, _, _ in mine)
    assert statistics.median(elapsed for _, elapsed, _ in mine) < max(0.2, 5 * calm), (calm, mine)

    entries = run_in_session(ctx, lambda s: list(s.exec(
        select(AuditEntry).where(AuditEntry.action == AUDIT_ACTION))))
    assert [e.actor for e in entries] == ["source:127.0.0.2"]  # one interval, one source: one row
    detail = json.loads(entries[0].detail)
    assert detail["failures"] == hashed and detail["throttled"] == GUESSES - hashed
    assert detail["first"] <= detail["last"]


def test_the_audit_of_many_sources_is_bounded_per_interval():
    ledger = FailureLedger(RestPolicy(auth_audit_max_sources=3, auth_tracked_sources=50))
    for n in range(100):
        ledger.note(f"10.0.0.{n}", throttled=False)
    ledger.note("10.0.0.7", throttled=True)
    written = ledger.drain()
    assert len(written) == 3 and written["10.0.0.7"].throttled == 1
    assert sum(t.failures for t in written.values()) == 100
    assert written[OTHER_SOURCES].sources == 48  # 2 of the 50 tracked named; the 50 past the bound uncounted
    assert ledger.drain() == {}


def test_the_backoff_table_is_bounded_and_a_success_gives_back_only_its_own_attempt():
    now = [0.0]
    backoff = SourceBackoff(RestPolicy(auth_free_failures=2, auth_tracked_sources=10), clock=lambda: now[0])
    for n in range(100):
        assert backoff.begin(f"10.0.0.{n}") == 0
    assert len(backoff._sources) <= 10
    assert backoff.begin("a") == 0 and backoff.begin("a") == 0 and backoff.begin("a") == 0  # third: now blocked
    assert backoff.begin("a") > 0
    now[0] += 1.5
    assert backoff.begin("a") == 0   # the guesser's valid token: counted until it proves good...
    backoff.release("a")             # ...which gives back that attempt only, not the earlier failures
    assert backoff.begin("a") > 0



def _at_once(url: str, token: str, count: int) -> list[int]:
    """``count`` GETs sent together on connections opened beforehand (so they overlap within
    the ~10 ms one hash takes); their statuses."""
    host, port = url.removeprefix("http://").split(":")
    request = (f"GET /api/v1/stations HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
               f"Connection: close\r\n\r\n").encode()
    connections = [socket.create_connection((host, int(port)), timeout=30) for _ in range(count)]
    try:
        for connection in connections:
            connection.sendall(request)
        return [int(connection.makefile("rb").readline().split()[1]) for connection in connections]
    finally:
        for connection in connections:
            connection.close()


def test_a_client_opening_with_many_requests_at_once_is_not_taken_for_a_guesser(sqlite_pki):
    # With no free failures, each hash in flight counts against the address until it passes: had
    # the 16 requests each hashed the new token, all but the first would have been answered 429.
    officer = create_token(sqlite_pki.ctx, SETUP_ACTOR, "officer", "automation").token
    with running_server(sqlite_pki.ctx, "auth_free_failures = 0") as url:
        assert _at_once(url, officer, 16) == [200] * 16
        # The same wrong secret sent at once is still checked, and counted, one request at a time.
        statuses = _at_once(url, f"cca_{officer.split('_')[1]}_wrong", 8)
        assert statuses.count(401) == 1 and statuses.count(429) == 7
