"""The fast OCPP-J codec (msgspec) decodes and encodes as the standard library does, or hands the
text to it: so every frame gets the same value or the same CALLERROR whichever codec runs."""

from __future__ import annotations

import json
import math
import random

import pytest

from api.ocpp import framing, json_codec

pytest.importorskip("msgspec", reason="the optional extra 'fast' is not installed")

HOSTILE = [
    '{"a":1,"b":2,"a":3}',                                   # duplicate key: last wins, first's place
    '[1,123456789012345678901234567890,-98765432109876543210987654321]',   # beyond 64 bits
    '[18446744073709551615,18446744073709551616,-9223372036854775809]',
    '[' + '7' * 4300 + ']',                                  # at Python's digit limit
    '[' + '7' * 4301 + ']',                                  # over it: refused by both
    '[NaN]', '[Infinity]', '[-Infinity]', '{"v":NaN}',      # not JSON, but Python's parser takes them
    '[1e400]', '[-1e400]', '[1e-400]', '[' + '9' * 400 + '.5]',
    '[0.1,1E2,-0.0,1.7976931348623157e308,5e-324,2.2250738585072014e-308,-0]',
    '["\\ud800"]', '["a\\udc00b"]', '["\\ud83d\\ude00"]', '["a\\u0000b"]', '{"\\ud800":1}',
    '["a\tb"]', '\ufeff[1]', '[1] x', ' \n[1]\r\n ', '[01]', "['a']", '[1,]', '["\\x"]', '',
    '["\\/\\b\\f\\n\\r\\t\\"\\\\"]', '["\x7f\u2028\u00e9"]', '[true,false,null]', '{"a":{}}',
    '[' * 500 + ']' * 500, '[' * 999 + ']' * 999, '[' * 1024 + ']' * 1024, '[' * 10_000 + ']' * 10_000,
]


def _outcome(loads, text: str):
    try:
        return "value", repr(loads(text))
    except RecursionError:
        return "recursion", None
    except ValueError as exc:
        return "refused", type(exc).__name__, getattr(exc, "msg", str(exc))


@pytest.fixture
def fast():
    previous = json_codec.in_use()
    json_codec.use(json_codec.MSGSPEC)
    yield json_codec
    json_codec.use(previous)


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_the_fast_decoder_gives_the_standard_librarys_value_or_refusal(fast, text):
    assert _outcome(fast.loads, text) == _outcome(json.loads, text)


def _random_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return rng.choice([0, -1, 2**63, -(2**64) - 1, rng.randrange(-10**30, 10**30)])
    if kind == 1:
        return rng.choice([rng.random(), rng.uniform(-1e300, 1e300), 1e16, 1e-7, 123.456e-300,
                           float.fromhex("0x1.fffffffffffffp+1023"), 5e-324])
    if kind == 2:
        points = [rng.randrange(32, 127), rng.randrange(0x80, 0xd800), rng.randrange(0xe000, 0x110000), 0, 9, 34, 92]
        return "".join(chr(rng.choice(points)) for _ in range(rng.randrange(8)))
    if kind == 3:
        return rng.choice([True, False, None])
    if kind == 4:
        return ""
    if kind in (5, 6):
        return {str(rng.randrange(5)): _random_value(rng, depth + 1)
                for _ in range(rng.randrange(5))}
    return [_random_value(rng, depth + 1) for _ in range(rng.randrange(5))]


def test_random_documents_decode_and_encode_alike(fast):
    rng = random.Random(20261204)
    for _ in range(3000):
        value = _random_value(rng)
        for text in (json.dumps(value), json.dumps(value, ensure_ascii=False), fast.dumps(value)):
            assert _outcome(fast.loads, text) == _outcome(json.loads, text), text
        # What the fast encoder writes reads back as the same value (spellings may differ: 1e16).
        assert repr(json.loads(fast.dumps(value))) == repr(value)


def test_the_fast_encoder_writes_compact_utf8_and_hands_what_it_cannot_write_to_the_standard_library(fast):
    frame = framing.CallResult("m-1", {"currentTime": "2026-12-04T10:00:00Z", "text": "é ☃ \u2028"})
    assert fast.dumps([3, "m-1", frame.payload]) == json.dumps([3, "m-1", frame.payload], separators=(",", ":"),
                                                                 ensure_ascii=False)
    # A lone surrogate: msgspec cannot write it; the standard library's text is what goes out, as before.
    assert fast.dumps(["\ud800"]) == '["\ud800"]'
    # A non-finite float: null, where the standard library writes the non-JSON token NaN.
    assert fast.dumps([math.nan]) == "[null]"


def test_a_codec_that_is_not_installed_or_does_not_exist_is_named(monkeypatch):
    with pytest.raises(ValueError, match="one of stdlib, msgspec"):
        json_codec.use("simdjson")
    previous = json_codec.in_use()
    monkeypatch.setattr(json_codec, "msgspec", None)
    with pytest.raises(LookupError, match="msgspec is not installed"):
        json_codec.use(json_codec.MSGSPEC)
    assert json_codec.in_use() == previous


@pytest.mark.parametrize("codec", json_codec.CODECS)
def test_an_integer_over_pythons_digit_limit_is_an_rpc_framework_error(codec):
    previous = json_codec.in_use()
    json_codec.use(codec)
    try:
        with pytest.raises(framing.FrameError) as refused:
            framing.parse('[2,"m-1","DataTransfer",{"vendorId":"v","data":' + "1" * 5000 + "}]")
    finally:
        json_codec.use(previous)
    assert refused.value.code == "RpcFrameworkError" and "not valid JSON" in refused.value.description


@pytest.mark.parametrize("variable, value, named", [("CHARGECA_JSON_CODEC", "simdjson", "json_codec"),
                                                   ("CHARGECA_EVENT_LOOP", "trio", "event_loop")])
def test_an_unknown_codec_or_event_loop_setting_is_refused_by_name(monkeypatch, tmp_path, variable, value, named):
    from api.core.settings import SettingsError, load_settings

    monkeypatch.setenv(variable, value)
    # The variable the operator set, as for every other setting.
    with pytest.raises(SettingsError, match=rf"{variable} \({named}\) must be one of .*not '{value}'"):
        load_settings(tmp_path)
