"""The journal's durable points as it reaches them (storage/journal.py): each ``os.pwritev`` with
its flags, each ``os.fdatasync``, and the entries in the file at each point that made them durable
(an fdatasync, or a write with RWF_DSYNC)."""

from __future__ import annotations

import os


class DurableWrites:
    """Installed on ``os`` through ``monkeypatch``; ``refuse`` (an errno): every pwritev raises it,
    as a kernel without RWF_DSYNC does."""

    def __init__(self, monkeypatch, refuse: int | None = None) -> None:
        self.pwritev: list[int] = []         # the flags of each call
        self.fdatasync = 0
        self.synced: list[list[str]] = []    # the entries in the file at each durable point
        pwritev, fdatasync = os.pwritev, os.fdatasync

        def counted_pwritev(fd, buffers, offset, flags=0):
            self.pwritev.append(flags)
            if refuse is not None:
                raise OSError(refuse, os.strerror(refuse))
            written = pwritev(fd, buffers, offset, flags)
            if flags & getattr(os, "RWF_DSYNC", 0):
                self._durable(fd)
            return written

        def counted_fdatasync(fd):
            self.fdatasync += 1
            fdatasync(fd)
            self._durable(fd)

        monkeypatch.setattr(os, "pwritev", counted_pwritev)
        monkeypatch.setattr(os, "fdatasync", counted_fdatasync)

    def _durable(self, fd: int) -> None:
        # The entries end where the zeros written ahead begin.
        self.synced.append(os.pread(fd, 1 << 20, 0).split(b"\0")[0].decode().splitlines())
