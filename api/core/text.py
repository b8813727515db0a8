"""Text that no column can store: NUL characters and lone surrogates.

PostgreSQL's text types cannot hold U+0000 (the driver refuses the whole statement), and a lone
UTF-16 surrogate, what JSON's ``"\\ud800"`` escape decodes to on its own, is no Unicode character:
UTF-8 cannot encode it, so neither database takes it, nor can an export write it. What people
and their files send (REST requests, imported files) is refused with the field named; what a
station sends is read by api/ocpp/framing.py, which keeps the report and replaces NUL instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

NUL = "\x00"
LONE_SURROGATE = re.compile("[\ud800-\udfff]")

Path = tuple[str | int, ...]


def unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored as it is; None when it can."""
    if NUL in text:
        return "holds a NUL character (U+0000), which cannot be stored"
    if LONE_SURROGATE.search(text):
        return "holds a lone surrogate (a \\ud800-\\udfff escape not in a pair), which is no Unicode character"
    return None


def non_finite(leaf: Any) -> str | None:
    """Why a parsed JSON value is no number JSON has: NaN and Infinity, which Python's parser
    takes (as it takes 1e400, as infinity), are no JSON, and a station would get them as sent."""
    if isinstance(leaf, float) and not math.isfinite(leaf):
        return "is not a finite number (NaN, Infinity or beyond a double's range)"
    return None


def first_where(value: Any, reason_of: Callable[[Any], str | None]) -> tuple[Path, str] | None:
    """The path of the first leaf (or object key) of parsed JSON ``value`` for which ``reason_of``
    gives a reason, in document order, and that reason. A bad key is reported at its object's
    path (the key itself is no name to show). Without recursion: the value may be nested as deep
    as the parser allowed."""
    stack: list[tuple[Any, Path]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            for key in node:
                reason = reason_of(key)
                if reason is not None:
                    return path, f"has a key that {reason}"
            # Reversed onto the stack, so that the first in the document comes out first.
            stack.extend((node[key], (*path, key)) for key in reversed(node))
        elif isinstance(node, list):
            stack.extend((node[index], (*path, index)) for index in reversed(range(len(node))))
        else:
            reason = reason_of(node)
            if reason is not None:
                return path, reason
    return None
