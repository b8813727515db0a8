"""Leases on work rows: which running process holds a row, and until when.

A row being worked on (an outbox call on the wire, say) carries its holder — the node, and the
process on that node — and an expiry. Another node may take the row over once the lease has
expired; a process that starts on a node takes over at once whatever an earlier process of the
same node left, since that process is gone (a node runs one process at a time: CHARGECA_NODE_ID).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.sql import ColumnElement

NODE_MAX = 64


@dataclass(frozen=True)
class LeaseOwner:
    node: str
    process: str

    @classmethod
    def start(cls, node: str) -> "LeaseOwner":
        """The owner for a process starting now on ``node``."""
        return cls(node[:NODE_MAX], secrets.token_hex(8))

    def holds(self, row: Any) -> bool:
        """Whether ``row`` (loaded) is held by this owner."""
        return (row.lease_node, row.lease_process) == (self.node, self.process)

    def values(self, until: datetime) -> dict[str, Any]:
        """Column values that give this owner the row until ``until``."""
        return {"lease_node": self.node, "lease_process": self.process, "lease_expires_at": until}


def release(row: Any) -> None:
    """Make ``row`` (loaded in a session) held by nobody."""
    row.lease_node = row.lease_process = row.lease_expires_at = None


def abandoned(model: Any, owner: LeaseOwner, now: datetime) -> ColumnElement[bool]:
    """Held by no live process as far as ``owner`` can tell: its lease expired (or it has none),
    or an earlier process of the owner's node left it."""
    return or_(model.lease_expires_at == None, model.lease_expires_at < now,  # noqa: E711
               and_(model.lease_node == owner.node, model.lease_process != owner.process))
