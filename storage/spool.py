"""A bounded local file of rows the database could not take: written when it is back.

One JSON object per line, appended and fsynced before the caller answers anyone, so a row
acknowledged during a database outage survives a crash of the process as well. The file is
bounded (``max_entries``): when it is full, ``add`` says so and the caller must refuse instead
(whoever sent the row keeps it and sends it again). Mode 0600 in a 0700 directory: rows may
carry what stations report about their security.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


class Spool:
    def __init__(self, path: Path, max_entries: int) -> None:
        self.path = path
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._count = 0
        if path.exists():
            self._count = len(self._read())
            end_torn_line(path)

    def __len__(self) -> int:
        return self._count

    def add(self, entry: dict[str, Any]) -> bool:
        """Append ``entry`` durably; False (and nothing written) when the spool is full."""
        line = json.dumps(entry, separators=(",", ":"), ensure_ascii=False) + "\n"
        with self._lock:
            if self._count >= self.max_entries:
                return False
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
            self._count += 1
            return True

    def drain(self, write: Callable[[list[dict[str, Any]]], None]) -> int:
        """Hand every spooled entry to ``write`` (one transaction, say); once it returns, they are
        removed from the file. Entries added meanwhile stay. Raises what ``write`` raises, and then
        keeps everything. The number of entries written."""
        with self._lock:
            entries = self._read() if self._count else []
        if not entries:
            return 0
        write(entries)
        with self._lock:
            rest = self._read()[len(entries):]
            temporary = self.path.with_suffix(".tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.writelines(json.dumps(entry, separators=(",", ":"), ensure_ascii=False) + "\n"
                                  for entry in rest)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
            self._count = len(rest)
        return len(entries)

    def _read(self) -> list[dict[str, Any]]:
        with self.path.open(encoding="utf-8") as handle:
            # A line cut short by a crash mid-append was never acknowledged: skipped.
            return [entry for entry in map(_entry, handle) if entry is not None]


def end_torn_line(path: Path) -> None:
    """A crash in the middle of an append leaves a line without its end: end it, so the next
    entry starts on a line of its own (the torn one is skipped when read)."""
    with path.open("rb+") as handle:
        if handle.seek(0, os.SEEK_END) == 0:
            return
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) != b"\n":
            handle.write(b"\n")


def _entry(line: str) -> dict[str, Any] | None:
    try:
        return json.loads(line)
    except ValueError:
        return None
