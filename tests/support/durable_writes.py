"""The journal's durable points as it reaches them (storage/journal.py): each ``os.pwritev`` with
its flags, each ``os.fdatasync``, and the entries in the file at each point that made them durable
(an fdatasync, or a write with RWF_DSYNC), on a thread of the test's process or, ``in_helper``,
in the helper process that syncs for it (storage/sync_process.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from storage import sync_process

OBSERVED_HELPER = Path(__file__).with_name("observed_fdatasync_helper.py")


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


class DurableWritesInHelper:
    """The helper process's fdatasyncs, through a helper that records each (OBSERVED_HELPER)."""

    def __init__(self, monkeypatch, record: Path) -> None:
        self._record = record
        monkeypatch.setattr(sync_process, "HELPER", OBSERVED_HELPER)
        monkeypatch.setenv("OBSERVED_FDATASYNC_RECORD", str(record))

    @property
    def synced(self) -> list[list[str]]:
        """The entries in the file at each fdatasync so far."""
        if not self._record.exists():
            return []
        return [json.loads(line) for line in self._record.read_text().splitlines()]
