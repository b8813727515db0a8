"""One cap on the bytes per second the file service moves, shared by every transfer in it.

Uploads and downloads are background work; the stations' OCPP messages are not. On a machine
whose cores also answer OCPP, a fleet uploading at wire speed takes the cores (TLS, hashing, the
kernel's copies, the uploading side's own work on loopback) and the OCPP round trip grows by an
order of magnitude (scripts/bench_uploads.py). Capping the aggregate rate spreads the same bytes
over a longer time: a station's transfer takes longer, no OCPP answer does.

The cap is a virtual schedule (GCRA): each transfer reserves its bytes on one shared timeline
advancing at the cap's rate, and waits until its reservation is at most ``burst`` ahead of now.
Reserving is one short critical section, so HTTPS handler threads and the FTP loop share it.

What a pace costs a station: its transfer ends when its last byte is read, and an uploading
station's own send buffer (up to 4 MB on Linux) drains at its share of the pace, after it has
"sent" everything and while it waits for the answer. The cap must leave each of the uploads
that run at once a share at which that wait stays within a station's answer timeout (20 MB/s
shared by 100 stations: 200 kB/s, a full 4 MB buffer in 20 s; at 10 MB/s the simulated
stations' 30 s ran out). A smaller receive buffer on our side does not shorten it (measured).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TransferPace:
    """``bytes_per_second`` for all transfers together; ``burst`` bytes may go at once."""

    def __init__(self, bytes_per_second: int, *, burst: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if bytes_per_second < 1:
            raise ValueError(f"a transfer pace needs at least 1 byte per second, not {bytes_per_second}")
        self.bytes_per_second = bytes_per_second
        # By default a tenth of a second's worth: smooth enough not to come in bursts that hold
        # the cores, large enough that a lone transfer's chunks are not each delayed.
        self._allowance = (burst if burst is not None else bytes_per_second // 10) / bytes_per_second
        self._clock = clock
        self._lock = threading.Lock()
        self._free_at = 0.0   # when the timeline has moved every byte reserved so far

    def reserve(self, count: int) -> float:
        """Count ``count`` bytes just moved; the seconds the caller should wait before moving more."""
        now = self._clock()
        with self._lock:
            self._free_at = max(self._free_at, now) + count / self.bytes_per_second
            ahead = self._free_at - now
        return max(0.0, ahead - self._allowance)

    def wait(self, count: int) -> None:
        """``reserve``, then sleep as long as it says (for a thread of its own)."""
        delay = self.reserve(count)
        if delay:
            time.sleep(delay)


def pace_of(megabytes_per_second: int) -> TransferPace | None:
    """The policy's figure (MB/s, 0: no cap) as a pace, or None."""
    return TransferPace(megabytes_per_second * 1_000_000) if megabytes_per_second else None
