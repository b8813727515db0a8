"""Secrets we verify but never store: station Basic-auth passwords and API tokens.

argon2id with a per-hash salt. The parameters cost ~10 ms per check on one core: slow enough
to make an offline guess expensive, fast enough for a reconnect storm of profile-2 stations.
"""

from __future__ import annotations

import secrets
import string

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
