"""The JSON codec of OCPP-J frames: the standard library's, or msgspec's when it is installed and
chosen (``CHARGECA_JSON_CODEC``, api/core/settings.py).

msgspec decodes a frame 3-9x faster and encodes one ~15x faster, but it is a different parser,
and framing (api/ocpp/framing.py) gives every broken frame a precise CALLERROR from what the
standard library says about it. So msgspec only ever takes the fast path, never a decision:

- decoding: whatever msgspec refuses (malformed text, NaN/Infinity, numbers that overflow a
  float, lone surrogate escapes, nesting past the recursion limit) is decoded again by
  ``json.loads``, which then accepts it or refuses it exactly as without msgspec. What msgspec
  accepts, the standard library decodes to the same values (duplicate keys: the last wins, in
  the first one's place; integers of any size stay exact; floats round the same way):
  tests/ocpp/test_json_codec.py holds the two to that on hostile and random input.
- encoding: msgspec writes compact UTF-8 like ``json.dumps(separators=(",", ":"),
  ensure_ascii=False)``; anything it cannot write (a lone surrogate, a type it does not know)
  goes to ``json.dumps``. Two spellings differ without changing a value: exponents (``1e16``
  for ``1e+16``) and a non-finite float, which msgspec writes as ``null`` where the standard
  library writes ``NaN``, a token that is not JSON and that a station's parser refuses anyway.

Measured on the gateway (scripts/bench_gateway.py --per-core): the JSON work is a few µs of a
Heartbeat's ~250 µs of server CPU, so the codec is off by default (docs/benchmarks.md, "Faster per core").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

try:
    import msgspec
except ImportError:  # the optional extra "fast" is not installed
    msgspec = None

STDLIB, MSGSPEC = "stdlib", "msgspec"
CODECS = (STDLIB, MSGSPEC)


def available(name: str) -> bool:
    return name == STDLIB or (name == MSGSPEC and msgspec is not None)


def _std_loads(text: str | bytes) -> Any:
    return json.loads(text)


def _std_dumps(value: Any) -> str:
    # Compact separators: stations on metered mobile links pay per byte; ensure_ascii=False keeps
    # UTF-8 text as UTF-8 (P4 asks for UTF-8, not \u escapes, though both are legal JSON).
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _fast_pair() -> tuple[Callable[[str | bytes], Any], Callable[[Any], str]]:
    decode = msgspec.json.Decoder().decode
    encode = msgspec.json.Encoder().encode
    refused = (msgspec.MsgspecError, RecursionError)

    def loads(text: str | bytes) -> Any:
        try:
            return decode(text)
        except refused:
            return json.loads(text)

    def dumps(value: Any) -> str:
        try:
            return encode(value).decode()
        except (TypeError, ValueError, OverflowError, UnicodeError):
            return _std_dumps(value)

    return loads, dumps


loads: Callable[[str | bytes], Any] = _std_loads
dumps: Callable[[Any], str] = _std_dumps
_in_use = STDLIB


def use(name: str) -> None:
    """Make ``name`` the process's codec (at start, before any frame). Raises LookupError when it
    is not installed, ValueError when there is no such codec."""
    global loads, dumps, _in_use
    if name not in CODECS:
        raise ValueError(f"JSON codec must be one of {', '.join(CODECS)}, not {name!r}")
    if not available(name):
        raise LookupError(f"JSON codec {name} is not installed (pip install 'chargeca[fast]')")
    loads, dumps = (_std_loads, _std_dumps) if name == STDLIB else _fast_pair()
    _in_use = name


def in_use() -> str:
    return _in_use
