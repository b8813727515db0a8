"""The audit log: who did what to which target, when, with what outcome.

Entries form a hash chain: each carries the SHA-256 of the previous entry. Writers
are serialised (an advisory lock on PostgreSQL, the write lock on SQLite), and a UNIQUE
constraint on the link is the backstop: two writers can never both extend the same head.
Editing or deleting an entry breaks the chain at that point, which `verify_chain` reports.
(Someone able to rewrite the whole table can rebuild the chain; record the head hash elsewhere
to detect that — `chargeca audit verify` prints it.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Text, UniqueConstraint, insert, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from storage.types import UtcDateTime, utcnow

GENESIS = "0" * 64
_CHAIN_LOCK = 0x636861726765_01  # arbitrary, fixed: "charge" + 1


class Outcome:
    SUCCESS = "success"
    REFUSED = "refused"
    FAILED = "failed"


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"
    __table_args__ = (UniqueConstraint("prev_hash", name="uq_audit_entry_prev_hash"),)

    seq: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UtcDateTime, index=True)
    actor: str = Field(max_length=100, index=True)
    action: str = Field(max_length=64, index=True)
    target: str = Field(max_length=200)
    outcome: str = Field(max_length=16)
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    prev_hash: str = Field(max_length=64)
    entry_hash: str = Field(max_length=64)


def _digest(prev_hash: str, at: datetime, actor: str, action: str, target: str,
            outcome: str, detail: str) -> str:
    canonical = json.dumps(
        [prev_hash, at.isoformat(timespec="microseconds"), actor, action, target, outcome, detail],
        separators=(",", ":"), ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# The chain's statements, built once: append_many runs for every operator call sent at once
# (twice) and in every certificate batch, and the ORM's execution cost each time was most of a
# write's CPU.
_TABLE = AuditEntry.__table__
_LOCK = text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=_CHAIN_LOCK)
_HEAD = select(_TABLE.c.entry_hash).order_by(_TABLE.c.seq.desc()).limit(1)
_INSERT = insert(_TABLE)


def _lock_chain(connection: Connection) -> None:
    """Writers queue here until the holder commits, so each sees the head it extends. (SQLite
    needs nothing: every writing transaction there starts with BEGIN IMMEDIATE.)"""
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCK)


def _head(connection: Connection) -> str:
    return connection.execute(_HEAD).scalar() or GENESIS


def append(session: Session, *, actor: str, action: str, target: str, outcome: str,
           detail: dict[str, Any] | None = None, attempts: int = 5) -> AuditEntry:
    """Add an entry inside the caller's transaction, so the action and its record commit together."""
    detail_text = json.dumps(detail or {}, sort_keys=True, separators=(",", ":"), default=str)
    _lock_chain(session.connection())
    last_error: IntegrityError | None = None
    for _ in range(attempts):
        at = utcnow()
        prev = _head(session.connection())
        entry = AuditEntry(at=at, actor=actor, action=action, target=target, outcome=outcome,
                           detail=detail_text, prev_hash=prev,
                           entry_hash=_digest(prev, at, actor, action, target, outcome, detail_text))
        savepoint = session.begin_nested()
        try:
            session.add(entry)
            session.flush()
        except IntegrityError as exc:
            # Another writer extended the chain first; link to the new head.
            savepoint.rollback()
            last_error = exc
            continue
        savepoint.commit()
        return entry
    raise RuntimeError("audit log: could not extend the hash chain under contention") from last_error


@dataclass(frozen=True)
class Record:
    """One entry to append with ``append_many``."""

    actor: str
    action: str
    target: str
    outcome: str
    detail: dict[str, Any]


def append_many(connection: Connection, records: Sequence[Record]) -> list[str]:
    """Add ``records`` in order inside the transaction ``connection`` is in (a session's:
    ``session.connection()``): one lock, one read of the head and one multi-row INSERT for all of
    them, each linked to the one before as ``append`` links it. Their entry hashes, in order. The
    UNIQUE link is still the backstop: a writer that extended the head meanwhile (there is none
    while the lock is held) fails the whole INSERT."""
    if not records:
        return []
    _lock_chain(connection)
    prev, rows = _head(connection), []
    for record in records:
        at = utcnow()
        detail_text = json.dumps(record.detail or {}, sort_keys=True, separators=(",", ":"), default=str)
        entry_hash = _digest(prev, at, record.actor, record.action, record.target, record.outcome, detail_text)
        rows.append({"at": at, "actor": record.actor, "action": record.action, "target": record.target,
                     "outcome": record.outcome, "detail": detail_text, "prev_hash": prev, "entry_hash": entry_hash})
        prev = entry_hash
    # Core, not ORM: the entries are not read back, and seq order is the order of the rows.
    connection.execute(_INSERT, rows)
    return [row["entry_hash"] for row in rows]


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str = ""


# Entries read at once by verify_chain: a long log is walked in pages, never held whole.
_VERIFY_PAGE = 1000
_ROW = select(_TABLE.c.seq, _TABLE.c.at, _TABLE.c.actor, _TABLE.c.action, _TABLE.c.target, _TABLE.c.outcome,
              _TABLE.c.detail, _TABLE.c.prev_hash, _TABLE.c.entry_hash).order_by(_TABLE.c.seq)


_SEQS = select(_TABLE.c.seq).order_by(_TABLE.c.seq)


def _page(query: Any, after: int | None) -> Any:
    return (query if after is None else query.where(_TABLE.c.seq > after)).limit(_VERIFY_PAGE)


def _rows(session: Session, query: Any) -> list[Any] | None:
    """The rows of ``query``, or None when one of them cannot be read as an entry. Someone
    writing to the table directly can store what no entry holds (on SQLite: bytes that are no
    UTF-8, a time that is no date); that is tampering to report, not a database outage. A
    savepoint keeps a failed read from ending the caller's transaction on PostgreSQL."""
    savepoint = session.begin_nested()
    try:
        rows = session.execute(query).all()
    except (DBAPIError, ValueError, TypeError, AttributeError):
        savepoint.rollback()
        return None
    savepoint.commit()
    return rows


def _unreadable_seq(session: Session, seqs: Sequence[int]) -> int:
    """The first of ``seqs`` whose entry cannot be read; raises when the database itself fails
    (an outage is never reported as a broken entry)."""
    for seq in seqs:
        if _rows(session, _ROW.where(_TABLE.c.seq == seq)) is None:
            session.execute(select(_TABLE.c.seq).where(_TABLE.c.seq == seq)).one()
            return seq
    raise RuntimeError("audit log: a page of entries could not be read, though each of them could")


def verify_chain(session: Session) -> ChainReport:
    prev = GENESIS
    count = 0
    after: int | None = None
    while True:
        rows = _rows(session, _page(_ROW, after))
        unreadable: int | None = None
        if rows is None:
            # The entries before the unreadable one are checked first: one of them may be the
            # first to break the chain.
            unreadable = _unreadable_seq(session, session.execute(_page(_SEQS, after)).scalars().all())
            rows = _rows(session, _page(_ROW.where(_TABLE.c.seq < unreadable), after)) or []
        if not rows and unreadable is None:
            return ChainReport(True, count, prev)
        for entry in rows:
            count += 1
            if entry.prev_hash != prev:
                return ChainReport(False, count, prev, entry.seq,
                                   "link to the previous entry is broken: an entry before it was removed, "
                                   "inserted or rewritten, or the entries were reordered")
            try:
                expected = _digest(entry.prev_hash, entry.at, entry.actor, entry.action, entry.target,
                                   entry.outcome, entry.detail)
            except (ValueError, TypeError, AttributeError):
                # A value of another type than the column's (SQLite keeps what it is given).
                expected = None
            if entry.entry_hash != expected:
                return ChainReport(False, count, prev, entry.seq, "entry content does not match its hash")
            prev = entry.entry_hash
        if unreadable is not None:
            return ChainReport(False, count + 1, prev, unreadable,
                               "entry cannot be read: its stored text or time is no entry's (written outside ChargeCA)")
        after = rows[-1].seq
