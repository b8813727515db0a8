"""One bound, for the whole process, on what stations' frames over ``max_size`` may hold.

With the message log on, a frame over the listener's ``max_size`` is still read, up to its
``read_ceiling``, so that the log keeps its beginning before the session closes with 1009
(api/ocpp/session.py). Alone, that let every connection hold up to the ceiling at once: a
firmware bug that makes a whole fleet send one large NotifyReport would have the server hold a
ceiling per station. Here the bytes connections hold beyond ``max_size`` are counted together;
a connection that would take the total over ``budget`` is failed with 1009 at once, its frame
logged as its size alone (as one over the ceiling is), and what it held is dropped. Frames
within ``max_size`` are never counted nor refused here.
"""

from __future__ import annotations

from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import PayloadTooBig
from websockets.frames import CloseCode

DEFAULT_BUDGET = 4 * 1024 * 1024
# A frame within max_size may still leave a little more in the reader while it arrives: its header
# (up to 14 bytes) and, compressed, deflate's growth on data that does not compress.
_SLACK = 1024


class OversizeReads:
    """The bytes held beyond ``max_size`` by every connection made through ``connection``."""

    def __init__(self, max_size: int, budget: int = DEFAULT_BUDGET) -> None:
        self.max_size = max_size
        self.budget = budget
        self.held = 0

    def connection(self, *args: Any, **kwargs: Any) -> ServerConnection:
        """The connection factory for websockets' ``serve(create_connection=…)``."""
        return _CountedConnection(self, *args, **kwargs)

    def account(self, connection: _CountedConnection) -> None:
        """After ``connection`` received data: what it holds now of a frame not yet complete
        (websockets keeps it in its reader until the frame is whole)."""
        held = len(connection.protocol.reader.buffer)
        over = held - self.max_size if held > self.max_size + _SLACK else 0
        self.held += over - connection.held_over
        connection.held_over = over
        if over and self.held > self.budget:
            self._refuse(connection, held)

    def release(self, connection: _CountedConnection) -> None:
        self.held -= connection.held_over
        connection.held_over = 0

    def _refuse(self, connection: _CountedConnection, held: int) -> None:
        self.release(connection)
        # As the parser does for a frame over the read ceiling: the session logs its size from this.
        connection.protocol.parser_exc = PayloadTooBig(held, self.max_size)
        connection.protocol.fail(CloseCode.MESSAGE_TOO_BIG,
                                 f"frame over {self.max_size} bytes while others are read; not read")
        connection.send_data()
        connection.transport.close()


class _CountedConnection(ServerConnection):
    def __init__(self, reads: OversizeReads, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads = reads
        self.held_over = 0

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self.reads.account(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.reads.release(self)
        super().connection_lost(exc)
