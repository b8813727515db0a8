"""Who is calling: bearer API tokens, their roles, and the dependencies routers declare.

A token is ``cca_<id>_<secret>``. Its row is found by id and the secret checked against the
argon2id hash, which is slow on purpose; a successful check is therefore remembered for
``TOKEN_CACHE_TTL`` seconds, keyed by the SHA-256 of the whole token (the token itself is never
kept). One token is hashed by one request at a time: a client that opens with many requests at
once has the first one checked and the others wait for it, instead of each paying the hash and
counting, meanwhile, as a failed attempt of its address. Failed checks are throttled per source
address and audited in aggregate (``auth_failures``). Revocation is read from the database on
every request, cached or not: a token revoked on any node stops working on every node at once,
for the price of one primary-key lookup; so is its expiry, if it was given one.

Roles:
  officer   everything;
  operator  station operations (register stations, sign their CSRs) and reading;
            no CA changes, revocation, token management or policy changes;
  auditor   reading only, the audit log and the token list included.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.core.audit import Actor, record_denied
from api.core.context import Context
from api.core.credentials import split_token, verify_secret
from api.ocpp.admission.throttle import retry_after_header
from api.rest.auth_failures import AuthFailures, source_key
from api.rest.errors import ApiError
from storage.db import read_connection
from storage.tokens import token_standing
from storage.types import utcnow

OFFICER = "officer"
OPERATOR = "operator"
AUDITOR = "auditor"

TOKEN_CACHE_TTL = 60.0


@dataclass(frozen=True)
class Principal:
    token_id: str
    role: str
    name: str

    @property
    def actor(self) -> Actor:
        return Actor(f"token:{self.token_id}", self.role)


class VerifiedTokens:
    """Tokens whose secret passed argon2 recently, so the next requests skip the hash."""

    def __init__(self, ttl_seconds: float = TOKEN_CACHE_TTL, max_entries: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._expiry: dict[bytes, float] = {}
        self._checking: dict[bytes, threading.Event] = {}  # at most one per request in flight
        self._lock = threading.Lock()  # handlers run in a thread pool

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def recently_verified(self, token: str) -> bool:
        key = self._key(token)
        with self._lock:
            expires = self._expiry.get(key)
            if expires is None:
                return False
            if expires <= self._clock():
                del self._expiry[key]
                return False
            return True

    def remember(self, token: str) -> None:
        key = self._key(token)
        with self._lock:
            self._expiry.pop(key, None)
            if len(self._expiry) >= self._max:
                self._evict()
            self._expiry[key] = self._clock() + self._ttl

    @contextlib.contextmanager
    def checking(self, token: str) -> Iterator[None]:
        """Held while ``token``'s secret is hashed: a second request with the same token waits
        here until the first one's check ends, then finds it verified, or checks it in turn."""
        key = self._key(token)
        while True:
            with self._lock:
                running = self._checking.get(key)
                if running is None:
                    mine = self._checking[key] = threading.Event()
                    break
            running.wait()
        try:
            yield
        finally:
            with self._lock:
                del self._checking[key]
            mine.set()

    def _evict(self) -> None:
        now = self._clock()
        for key in [k for k, expires in self._expiry.items() if expires <= now]:
            del self._expiry[key]
        while len(self._expiry) >= self._max:
            # Insertion order is expiry order, so the first entry is the oldest.
            del self._expiry[next(iter(self._expiry))]


_bearer = HTTPBearer(auto_error=False, scheme_name="ApiToken",
                     description="An API token `cca_<id>_<secret>`, created by an officer (POST /api/v1/tokens) "
                                 "or with the CLI.")


def current_context(request: Request) -> Context:
    return request.app.state.ctx


async def _context(request: Request) -> Context:
    # A dependency that does not block is async: FastAPI runs a plain def dependency on a worker
    # thread, a hop (~100 µs of CPU and a GIL handover each way) for an attribute read.
    return current_context(request)


def _unauthorized(message: str, *, invalid: bool = True) -> ApiError:
    # RFC 6750 section 3: name the error only when a token was presented.
    challenge = 'Bearer realm="chargeca", error="invalid_token"' if invalid else 'Bearer realm="chargeca"'
    return ApiError(401, message, headers={"WWW-Authenticate": challenge})


def authenticate(request: Request,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    if credentials is None:
        raise _unauthorized("missing API token: send 'Authorization: Bearer cca_<id>_<secret>'", invalid=False)
    token = credentials.credentials
    parts = split_token(token)
    verified: VerifiedTokens = request.app.state.verified_tokens
    if parts is None:
        return _hashed(request, verified, token, parts)
    if verified.recently_verified(token):
        # No hash to pay for: passes even from a source in back-off; revocation still applies.
        return _principal(request, parts[0])
    with verified.checking(token):
        if verified.recently_verified(token):  # by the request this one waited for
            return _principal(request, parts[0])
        return _hashed(request, verified, token, parts)


def _hashed(request: Request, verified: VerifiedTokens, token: str, parts: tuple[str, str] | None) -> Principal:
    """The principal of a token not verified recently: its secret checked against the hash, the
    attempt counted against its source's back-off until it passes."""
    failures: AuthFailures = request.app.state.auth_failures
    source = source_key(request.client.host if request.client else None)
    wait = failures.backoff.begin(source)
    if wait > 0:
        failures.ledger.note(source, throttled=True)
        raise ApiError(429, f"too many failed authentications from {source}; retry in {retry_after_header(wait)} s",
                       rule="auth.throttled", headers={"Retry-After": retry_after_header(wait)})
    try:
        if parts is None:
            raise _unauthorized("malformed API token: expected cca_<id>_<secret>")
        principal = _principal(request, parts[0], secret=parts[1])
    except ApiError:
        failures.ledger.note(source, throttled=False)
        raise
    except BaseException:
        failures.backoff.release(source)  # not a failed authentication: the database went away
        raise
    failures.backoff.release(source)
    verified.remember(token)
    return principal


def _principal(request: Request, token_id: str, *, secret: str | None = None) -> Principal:
    """The token's principal; its ``secret`` checked against the hash unless None (verified recently)."""
    # A read: on SQLite it takes no write lock, so requests never queue behind stations' writes.
    with read_connection(current_context(request).engine) as connection:
        record = token_standing(connection, token_id)
    if record is None or record.revoked:
        raise _unauthorized("unknown or revoked API token")
    if record.expired(utcnow()):
        raise _unauthorized(f"API token expired at {record.expires_at.isoformat()}: ask an officer for a new one")
    if secret is not None and not verify_secret(record.secret_hash, secret):
        raise _unauthorized("invalid API token")
    return Principal(record.id, record.role, record.name)


_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def require_role(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    allowed = frozenset(roles)

    async def check(request: Request, principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.role not in allowed:
            if request.method not in _READ_METHODS:
                # An attempted change by a known actor without the right: on the record.
                await asyncio.to_thread(record_denied, current_context(request), principal.actor,
                                        f"{request.method} {request.url.path}", sorted(allowed))
            raise ApiError(403, f"this needs the role {' or '.join(roles)}; token {principal.token_id} "
                                f"has the role {principal.role}", required_roles=list(roles))
        return principal

    check.roles = tuple(roles)  # type: ignore[attr-defined] - read by tests/doors/test_action_roles.py
    return check


Ctx = Annotated[Context, Depends(_context)]
AnyRole = Annotated[Principal, Depends(require_role(OFFICER, OPERATOR, AUDITOR))]
StationOps = Annotated[Principal, Depends(require_role(OFFICER, OPERATOR))]
Oversight = Annotated[Principal, Depends(require_role(OFFICER, AUDITOR))]
OfficerOnly = Annotated[Principal, Depends(require_role(OFFICER))]
