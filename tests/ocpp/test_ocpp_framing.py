"""OCPP-J framing over a real connection: every broken frame gets the CALLERROR P4 asks for."""

from __future__ import annotations

import json

import pytest
from ocpp_support import csms  # noqa: F401 - fixture

from api.ocpp import framing


@pytest.fixture
async def station(csms):
    password = csms.add_station("CS-FRAME")
    raw = await csms.connect_raw("CS-FRAME", password)
    await raw.boot()
    return raw


@pytest.mark.parametrize("text, reason", [
    ("[2, \"abc\", \"Heartbeat\", {", "not valid JSON"),
    ("{\"not\": \"an array\"}", "not a non-empty JSON array"),
    ("[]", "not a non-empty JSON array"),
    ("[2, 17, \"Heartbeat\", {}]", "message id"),
    ("[2, \"" + "x" * 37 + "\", \"Heartbeat\", {}]", "message id"),
])
async def test_unreadable_frames_get_rpc_framework_error_with_id_minus_one(station, text, reason):
    frame = await station.send_raw(text)
    assert frame[:3] == [4, "-1", "RpcFrameworkError"]
    assert reason in frame[3]


async def test_invalid_utf8_gets_rpc_framework_error(station):
    frame = await station.send_raw(b"\xff\xfe[2]")
    assert frame[:3] == [4, "-1", "RpcFrameworkError"]


async def test_wrong_shape_keeps_the_readable_id(station):
    frame = await station.send_raw(json.dumps([2, "m-1", "Heartbeat"]))
    assert frame[:3] == [4, "m-1", "RpcFrameworkError"]
    assert "4 elements" in frame[3]


async def test_payload_that_is_not_an_object_is_a_format_violation(station):
    frame = await station.send_raw(json.dumps([2, "m-2", "Heartbeat", []]))
    assert frame[:3] == [4, "m-2", "FormatViolation"]


async def test_unknown_message_type_is_not_supported(station):
    frame = await station.send_raw(json.dumps([6, "m-3", "Heartbeat", {}]))
    assert frame[:3] == [4, "m-3", "MessageTypeNotSupported"]


async def test_a_36_character_id_is_fine(station):
    message_id = "x" * 36
    frame = await station.send_raw(json.dumps([2, message_id, "Heartbeat", {}]))
    assert frame[0] == 3 and frame[1] == message_id and "currentTime" in frame[2]


async def test_unknown_action_is_not_implemented(station):
    frame = await station.call("FlyToTheMoon", {})
    assert frame[2] == "NotImplemented"


async def test_known_but_unhandled_action_is_not_supported(station):
    # GetCertificateStatus belongs to the ISO 15118 profile, which this CSMS does not handle yet.
    frame = await station.call("GetCertificateStatus", {"ocspRequestData": {}})
    assert frame[2] == "NotSupported"


async def test_broken_frames_do_not_end_the_session(station):
    await station.send_raw("garbage")
    frame = await station.call("Heartbeat", {})
    assert frame[0] == 3


def test_error_description_is_cut_to_255_characters():
    text = framing.serialize(framing.CallError("id", "GenericError", "x" * 400))
    assert len(json.loads(text)[3]) == 255


def test_frames_round_trip():
    for frame in (framing.Call("1", "Heartbeat", {}), framing.CallResult("2", {"a": "é"}),
                  framing.CallError("3", "SecurityError", "no", {"k": 1})):
        assert framing.parse(framing.serialize(frame)) == frame


@pytest.mark.parametrize("text, answered", [
    ('[2,"abc","Heart\\ud800beat",{}]', [4, "abc", "RpcFrameworkError", "action holds a lone surrogate escape"]),
    ('[2,"a\\udc00c","Heartbeat",{}]', [4, "-1", "RpcFrameworkError", "message id holds a lone surrogate escape"]),
])
async def test_a_lone_surrogate_outside_the_payload_is_refused_with_the_id_when_the_id_is_sound(station, text,
                                                                                               answered):
    frame = await station.send_raw(text)
    assert frame[:4] == answered


@pytest.mark.parametrize("text, where", [
    ('[4,"abc","Generic\\ud800Error","",{}]', "error code"),
    ('[4,"abc","GenericError","a lone \\ud800",{}]', "error description"),
])
def test_a_callerror_with_a_lone_surrogate_still_names_the_call_it_ends(text, where):
    with pytest.raises(framing.FrameError) as broken:
        framing.parse(text)
    assert broken.value.message_id == "abc" and not broken.value.answerable
    assert broken.value.description == f"{where} holds a lone surrogate escape"
