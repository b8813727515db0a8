"""Secrets we verify but never store: station Basic-auth passwords and API tokens.

argon2id with a per-hash salt. The parameters cost ~10 ms per check on one core: slow enough
to make an offline guess expensive, fast enough for a reconnect storm of profile-2 stations.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

# passwordString characters of OCPP 2.0.1 (A00.FR.205): letters, digits and * - _ = : + | @ .
PASSWORD_ALPHABET = string.ascii_letters + string.digits + "*-_=:+|@."
PASSWORD_MIN = 16
PASSWORD_MAX = 40  # stations may announce up to 64 through the variable's maxLimit


def hash_secret(secret: str) -> str:
    return _HASHER.hash(secret)


def verify_secret(stored_hash: str | None, secret: str) -> bool:
    if not stored_hash:
        return False
    try:
        return _HASHER.verify(stored_hash, secret)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class RecentVerifications:
    """Successful password checks of the last ``ttl`` seconds, so that a station reconnecting
    soon after (a reconnect storm after a network blip) costs a keyed hash instead of argon2,
    which caps a core at ~30-40 connects/s.

    The key binds the station, the password and the stored hash it was checked against: a
    password change, a rotation (A01) or a settled rotation changes the stored hash and so
    misses the cache, and only successes are kept, so a wrong password always meets argon2.
    Keys are HMACs under a key of this process: what the table holds is useless outside it.
    Bounded (oldest dropped first), thread-safe (checks run on worker threads).
    """

    def __init__(self, ttl: float = 15 * 60, max_entries: int = 65_536,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        self._entries: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def _key(self, identity: str, stored_hash: str, secret: str) -> bytes:
        message = b"\0".join(part.encode() for part in (identity, stored_hash, secret))
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def known(self, identity: str, stored_hash: str | None, secret: str) -> bool:
        """True when ``secret`` verified against ``stored_hash`` for ``identity`` within the TTL."""
        if not stored_hash:
            return False
        key = self._key(identity, stored_hash, secret)
        with self._lock:
            verified_at = self._entries.get(key)
            if verified_at is None:
                return False
            if self._clock() - verified_at >= self.ttl:
                del self._entries[key]
                return False
            return True

    def verify(self, identity: str, stored_hash: str | None, secret: str,
               verify: Callable[[str | None, str], bool] = verify_secret) -> bool:
        """``verify(stored_hash, secret)``, skipped when known; a success is remembered."""
        if self.known(identity, stored_hash, secret):
            return True
        if not verify(stored_hash, secret):
            return False
        key = self._key(identity, stored_hash, secret)
        with self._lock:
            self._entries[key] = self._clock()
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._entries)


def generate_password(length: int = PASSWORD_MAX) -> str:
    length = max(PASSWORD_MIN, length)
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))


def check_password(password: str, max_length: int = 64) -> str | None:
    """The reason a station password is unacceptable, or None."""
    if not PASSWORD_MIN <= len(password) <= max_length:
        return f"password must have {PASSWORD_MIN} to {max_length} characters"
    bad = sorted({c for c in password if c not in PASSWORD_ALPHABET})
    if bad:
        return f"password contains characters outside OCPP's passwordString set: {''.join(bad)!r}"
    return None


TOKEN_PREFIX = "cca"


def new_token() -> tuple[str, str, str]:
    """A fresh API token as (token_id, secret, full_token). Only the secret's hash is stored."""
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return token_id, secret, f"{TOKEN_PREFIX}_{token_id}_{secret}"


def split_token(token: str) -> tuple[str, str] | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]
