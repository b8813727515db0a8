"""A local append-only journal of what a process answered before storing it, and its mark.

One entry per line, ``<seq> <body>``: ``seq`` counts from 1 and never goes back, ``body`` is the
caller's JSON text. ``append`` is a ``write()`` at the end of the entries: once it returns, the
entry survives a crash of the process (the kernel has it), as a SQLite commit in WAL
mode with ``synchronous=NORMAL`` does; ``sync`` (fdatasync) makes what was appended survive a
crash of the machine too, as a PostgreSQL commit does. A journal opened ``written_at_sync``
leaves each entry's ``write()`` to the next sync, for a caller that waits for a sync before
every answer anyway, and writes over zeros written ahead (``AHEAD``): on the event loop, a
``write()`` that extends the file waits for the filesystem's journal while an fdatasync commits
it (py-spy, PostgreSQL, a thousand entries a second: a sixth of the loop's samples were in that
``write()``). The held entries then go to the file in one write a sync: ``sync`` writes them in
one ``pwritev`` with ``RWF_DSYNC`` (O_DSYNC for that write alone: durable when it returns), for
a sync on a thread of its own; ``write_held`` writes them alone, for a sync made by another
process over ``fileno()`` (storage/sync_process.py).

The caller stores entries elsewhere (the database) and moves the mark (``JournalMark``, in the
same database transaction as what it stored), then calls ``stored``: a journal with nothing left
to store is emptied once it has grown past ``EMPTIED_PAST`` bytes. At the next start, ``open``
gives back the entries past the mark: those the process answered and never stored.

Bounded: past ``max_pending`` entries not yet stored, ``append`` refuses (returns None) and the
caller must store before it answers. Mode 0600 in a 0700 directory: entries carry what stations
report.
"""

from __future__ import annotations

import errno
import json
import os
import threading
from collections import deque
from datetime import datetime
from pathlib import Path

from sqlalchemy import BigInteger, bindparam, select, update
from sqlmodel import Field, Session, SQLModel

from storage.types import UtcDateTime, utcnow

# A journal emptied of stored entries is cut back to nothing once it is this large: often enough
# to stay small, rarely enough that the cut costs nothing at a thousand entries a second.
EMPTIED_PAST = 4 * 1024 * 1024


class JournalMark(SQLModel, table=True):
    """How far each journal's entries are stored: one row per journal (per node and purpose)."""

    __tablename__ = "journal_mark"

    name: str = Field(primary_key=True, max_length=160)
    stored_through: int = Field(default=0, sa_type=BigInteger)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


_TABLE = JournalMark.__table__
# Built once: it runs in every group of entries stored.
MOVE_MARK = update(_TABLE).where(_TABLE.c.name == bindparam("mark_name")).values(
    stored_through=bindparam("through"), updated_at=bindparam("now", type_=_TABLE.c.updated_at.type))


def read_mark(session: Session, name: str) -> int:
    """The mark of journal ``name`` (made at 0 the first time)."""
    found = session.connection().execute(select(_TABLE.c.stored_through).where(_TABLE.c.name == name)).first()
    if found is not None:
        return found[0]
    session.add(JournalMark(name=name))
    return 0


def move_mark(session: Session, name: str, through: int) -> None:
    session.connection().execute(MOVE_MARK, {"mark_name": name, "through": through, "now": utcnow()})


# Where entries are written at sync (``written_at_sync``), the file is filled with zeros this far
# ahead of them: an entry written over blocks the file has already changes no metadata, so its
# fdatasync writes the data alone, without a commit of the filesystem's own journal, and without
# waiting behind the commits another writer's fsyncs (the database's) make. Measured here
# (scripts/bench_journal_sync.py, an entry of ~700 bytes a sync): 91-108 µs of CPU and 205-233 µs
# of wall time a sync over zeros, against 117-131 and 264-302 appended.
AHEAD = 1024 * 1024


class Journal:
    def __init__(self, path: Path, max_pending: int, fd: int, next_seq: int, pending: int, *, end: int,
                 written_at_sync: bool) -> None:
        self.path = path
        self.max_pending = max_pending
        self._fd = fd
        self._next = next_seq
        self._pending = pending
        self._end = end                                  # where the next entry goes
        self._allocated = os.fstat(fd).st_size           # the file's size: zeros past _end
        self._written_at_sync = written_at_sync
        self._held: deque[bytes] = deque()    # appended, left for the next sync to write
        self._writing = threading.Lock()      # a sync's thread against the loop's cut and close

    @classmethod
    def open(cls, path: Path, max_pending: int, *, stored_through: int,
             written_at_sync: bool = False) -> tuple[Journal, list[tuple[int, str]]]:
        """The journal at ``path`` and its entries past ``stored_through`` (seq, body), in order.
        ``written_at_sync``: ``append`` leaves each entry to the next ``sync`` to write."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        entries, last, end = _read(fd, stored_through)
        if not entries:
            os.ftruncate(fd, 0)
            end = 0
        elif os.pread(fd, 1, end - 1) != b"\n":
            # A crash in the middle of a write left a line without its end: ended, the next entry
            # starts a line of its own (the torn one is skipped when read).
            _write_at(fd, b"\n", end)
            end += 1
        return cls(path, max_pending, fd, max(last, stored_through) + 1, len(entries), end=end,
                   written_at_sync=written_at_sync), entries

    @property
    def last_seq(self) -> int:
        """The seq of the latest entry appended (or of the mark, before any)."""
        return self._next - 1

    @property
    def pending(self) -> int:
        """Entries appended and not yet stored."""
        return self._pending

    def append(self, body: str) -> int | None:
        """Write ``body`` (one line of JSON text), or hold it for the next ``sync`` to write (a
        journal opened ``written_at_sync``); its seq, or None when ``max_pending`` entries wait
        to be stored already (nothing written)."""
        if self._pending >= self.max_pending:
            return None
        seq = self._next
        line = f"{seq} {body}\n".encode()
        if self._written_at_sync:
            self._held.append(line)
        else:
            self._write(line)
        self._next += 1
        self._pending += 1
        return seq

    def fileno(self) -> int:
        """The file's descriptor, for a sync made elsewhere (storage/sync_process.py)."""
        return self._fd

    def write_held(self) -> None:
        """Write what was held, for a sync made elsewhere to make durable."""
        with self._writing:
            self._write_held()

    def sync(self) -> None:
        """Write what was held, then make every entry appended so far survive a crash of the
        machine. Safe on a thread of its own while the loop appends."""
        with self._writing:
            if not self._write_held(durably=True):
                os.fdatasync(self._fd)

    def stored(self, through: int) -> None:
        """The entries up to ``through`` are stored (and the mark moved past them)."""
        self._pending = max(0, self._next - 1 - through)
        # Not while a sync writes (the loop would wait for its fdatasync): a later call cuts.
        if not self._pending and self._end > EMPTIED_PAST and self._writing.acquire(blocking=False):
            try:
                os.ftruncate(self._fd, 0)
                self._end = self._allocated = 0
            finally:
                self._writing.release()

    def close(self) -> None:
        """Write what is held (never answered, but the next start will store it) and close."""
        with self._writing:
            self._write_held()
            os.close(self._fd)

    def _write_held(self, *, durably: bool = False) -> bool:
        """Write the held entries; True when they (and so every entry) are durable already:
        ``durably`` asked, something was held, and the system took RWF_DSYNC."""
        # One popleft at a time (atomic beside the loop's append): what the loop appends
        # meanwhile is written here or by the next sync, never lost between the two.
        lines = []
        while self._held:
            lines.append(self._held.popleft())
        return bool(lines) and self._write(b"".join(lines), durably=durably)

    def _write(self, data: bytes, *, durably: bool = False) -> bool:
        end = self._end + len(data)
        if self._written_at_sync and end > self._allocated:
            _write_at(self._fd, bytes(end + AHEAD - self._allocated), self._allocated)
            self._allocated = end + AHEAD
        done = _write_at(self._fd, data, self._end, durably=durably)
        self._end = end
        return done


# None where the system has no per-write O_DSYNC (os.RWF_DSYNC: Linux 4.7 and later), or once it
# refused it: then a write, and an fdatasync after it.
_DSYNC: int | None = getattr(os, "RWF_DSYNC", None)


def _write_at(fd: int, data: bytes, offset: int, *, durably: bool = False) -> bool:
    """Write ``data`` at ``offset``; True when it is durable on return (``durably`` asked, and
    RWF_DSYNC honoured), else the caller's fdatasync makes it so."""
    global _DSYNC
    # A regular file takes a write whole but for a full disk, which raises; a short count all the
    # same would leave a torn line for the next entry to run into.
    view = memoryview(data)
    while view:
        if durably and _DSYNC is not None:
            try:
                written = os.pwritev(fd, [view], offset, _DSYNC)
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS):
                    raise
                _DSYNC = None   # a kernel or filesystem without it: nothing was written
                continue
        else:
            written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written
    return durably and _DSYNC is not None


def _read(fd: int, stored_through: int) -> tuple[list[tuple[int, str]], int, int]:
    """The entries past ``stored_through``, the highest seq in the file, and where its entries
    end: at the first zero byte (no entry holds one: JSON text escapes it), where the zeros
    written ahead begin; whatever follows it was never synced, so never answered."""
    entries: list[tuple[int, str]] = []
    last = 0
    with open(fd, "rb", closefd=False) as handle:
        handle.seek(0)
        data = handle.read()
    end = data.find(b"\0")
    end = len(data) if end < 0 else end
    for line in data[:end].split(b"\n"):
        seq_text, _, body = line.partition(b" ")
        try:
            seq = int(seq_text)
            text = body.decode("utf-8")
            json.loads(text)
        except ValueError:
            continue   # a line cut short by a crash mid-append was never answered
        last = max(last, seq)
        if seq > stored_through:
            entries.append((seq, text))
    return entries, last, end
