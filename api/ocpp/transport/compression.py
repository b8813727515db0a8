"""permessage-deflate as the CSMS speaks it (RFC 7692; OCPP-J: the CSMS SHALL support it).

Without context takeover, either way: with it every connection keeps a compressor and a
decompressor alive between messages, ~48 KiB per idle station with websockets' defaults (12-bit
windows, memLevel 5), more than the rest of a connection. Without it, the zlib state exists only
while a message is (de)compressed; an OCPP message compresses well on its own (the repetition is
inside it, in its keys). Both directions are the server's to decide (RFC 7692 §7.1.1), so every
client that offers deflate gets it.

What the CSMS sends under ``SMALL`` bytes goes uncompressed: the RSV1 bit is per message
(RFC 7692 §6), so a peer that negotiated deflate reads such a message as it is. Alone, a
message that small has nothing to compress against: a TransactionEvent's answer of 45 bytes
deflates to 47, a Heartbeat's of 85 to 81, an idTokenInfo answer of 141 to 128, each for 6-11 µs
of a fresh compressor (measured here), most of the answers a fleet is sent.
"""

from __future__ import annotations

from collections.abc import Sequence

from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import PerMessageDeflate, ServerPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.typing import ExtensionParameter

SMALL = 256


class _SmallUncompressed(PerMessageDeflate):
    def encode(self, frame: Frame) -> Frame:
        # A whole message (not the first frame of a fragmented one, whose continuation frames
        # the parent compresses as one stream).
        if frame.fin and frame.opcode in (Opcode.TEXT, Opcode.BINARY) and len(frame.data) < SMALL:
            return frame
        return super().encode(frame)


class _Factory(ServerPerMessageDeflateFactory):
    def process_request_params(self, params: Sequence[ExtensionParameter],
                               accepted_extensions: Sequence[Extension]) -> tuple[list[ExtensionParameter],
                                                                                   PerMessageDeflate]:
        answer, negotiated = super().process_request_params(params, accepted_extensions)
        return answer, _SmallUncompressed(negotiated.remote_no_context_takeover, negotiated.local_no_context_takeover,
                                          negotiated.remote_max_window_bits, negotiated.local_max_window_bits,
                                          negotiated.compress_settings)


def permessage_deflate() -> ServerPerMessageDeflateFactory:
    return _Factory(server_no_context_takeover=True, client_no_context_takeover=True,
                    server_max_window_bits=12, client_max_window_bits=12, compress_settings={"memLevel": 5})
