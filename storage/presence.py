"""Which node of a cluster holds which station's connection (PostgreSQL only: cluster mode).

Two tables. ``cluster_node``: one row per node name, naming the process that runs under it now
and until when that process is alive (its lease, renewed by its heartbeat). ``station_presence``:
one row per station ever held, naming the holder (node and process) and a fencing epoch.

- A station's presence is live only while its holder's node row names the same process and that
  row's lease has not expired: one heartbeat per node renews every station it holds (the batch),
  and a node that dies stops renewing, so all its stations expire together.
- Every claim increments the epoch, whoever held the station before; a release and every relayed
  call name the epoch they were made under, and an epoch that is no longer the row's is stale.
  Two nodes may briefly both have a socket open to a station (the old one not yet closed), but
  only one holds its epoch: the other closes as soon as it hears of the claim or renews.

Times are the database's clock (``now()``), never a node's: nodes on different machines compare
leases against one clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Column, bindparam, text
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

from storage.leases import LeaseOwner
from storage.types import UtcDateTime


class ClusterNode(SQLModel, table=True):
    __tablename__ = "cluster_node"

    node_id: str = Field(primary_key=True, max_length=64)
    process: str = Field(max_length=16)
    lease_expires_at: datetime = Field(sa_type=UtcDateTime)
    started_at: datetime = Field(sa_type=UtcDateTime)


class StationPresence(SQLModel, table=True):
    __tablename__ = "station_presence"

    station_id: str = Field(primary_key=True, max_length=48)
    # The holder; both empty once it released the station (the epoch stays: it only grows).
    node_id: str | None = Field(default=None, max_length=64, index=True)
    process: str | None = Field(default=None, max_length=16)
    epoch: int = Field(sa_column=Column(BigInteger, nullable=False))
    # Indexed: each node's renewal reads the claims made since its previous one.
    claimed_at: datetime = Field(sa_type=UtcDateTime, index=True)


@dataclass(frozen=True)
class Holder:
    """The node serving a station's connection, under ``epoch``."""

    node: str
    epoch: int


def join(db: Connection, owner: LeaseOwner, lease_seconds: float) -> None:
    """``owner`` is the process of its node from now on: an earlier process's stations are no
    longer live (their presence names the old process)."""
    db.execute(text(
        "INSERT INTO cluster_node (node_id, process, lease_expires_at, started_at) "
        "VALUES (:node, :process, now() + make_interval(secs => :lease), now()) "
        "ON CONFLICT (node_id) DO UPDATE SET process = excluded.process, "
        "lease_expires_at = excluded.lease_expires_at, started_at = excluded.started_at"),
        {"node": owner.node, "process": owner.process, "lease": lease_seconds})


def extend(db: Connection, owner: LeaseOwner, lease_seconds: float) -> datetime | None:
    """Extend the node's lease, and with it every station it holds; the database's time of it.
    None: another process took the node's name over (this one holds nothing any more)."""
    return db.execute(text(
        "UPDATE cluster_node SET lease_expires_at = now() + make_interval(secs => :lease) "
        "WHERE node_id = :node AND process = :process RETURNING now()"),
        {"node": owner.node, "process": owner.process, "lease": lease_seconds}).scalar_one_or_none()


def held_by(db: Connection, owner: LeaseOwner) -> dict[str, int]:
    """Every station the database says ``owner`` holds, with its epoch."""
    rows = db.execute(text("SELECT station_id, epoch FROM station_presence "
                           "WHERE node_id = :node AND process = :process"),
                      {"node": owner.node, "process": owner.process})
    return {station_id: epoch for station_id, epoch in rows}


@dataclass(frozen=True)
class Claim:
    """A station's presence as a claim since some time left it: its holder now, if any."""

    node: str | None
    process: str | None
    epoch: int


def claims_since(db: Connection, since: datetime) -> dict[str, Claim]:
    """The stations claimed (by any node) at or after ``since``, with who holds them now."""
    rows = db.execute(text("SELECT station_id, node_id, process, epoch FROM station_presence "
                           "WHERE claimed_at >= :since"), {"since": since})
    return {row.station_id: Claim(row.node_id, row.process, row.epoch) for row in rows}


def claim(db: Connection, owner: LeaseOwner, station_id: str) -> int:
    """``owner`` holds the station from now on; the new epoch (one more than any before)."""
    return db.execute(text(
        "INSERT INTO station_presence (station_id, node_id, process, epoch, claimed_at) "
        "VALUES (:station, :node, :process, 1, now()) "
        "ON CONFLICT (station_id) DO UPDATE SET node_id = excluded.node_id, process = excluded.process, "
        "epoch = station_presence.epoch + 1, claimed_at = excluded.claimed_at RETURNING epoch"),
        {"station": station_id, "node": owner.node, "process": owner.process}).scalar_one()


def release(db: Connection, owner: LeaseOwner, station_id: str, epoch: int) -> bool:
    """The station's connection to ``owner`` closed: it is held by nobody, unless another claim
    came since (then the epoch differs and nothing changes). Whether it released."""
    return db.execute(text(
        "UPDATE station_presence SET node_id = NULL, process = NULL "
        "WHERE station_id = :station AND epoch = :epoch AND node_id = :node AND process = :process"),
        {"station": station_id, "epoch": epoch, "node": owner.node, "process": owner.process}).rowcount == 1


def leave(db: Connection, owner: LeaseOwner) -> None:
    """A clean stop: every station ``owner`` holds is released and its node row goes."""
    db.execute(text("UPDATE station_presence SET node_id = NULL, process = NULL "
                    "WHERE node_id = :node AND process = :process"), {"node": owner.node, "process": owner.process})
    db.execute(text("DELETE FROM cluster_node WHERE node_id = :node AND process = :process"),
               {"node": owner.node, "process": owner.process})


_LIVE = ("SELECT p.station_id, p.node_id, p.epoch FROM station_presence p "
         "JOIN cluster_node n ON n.node_id = p.node_id AND n.process = p.process AND n.lease_expires_at > now() ")


_OF_STATIONS = text(_LIVE + "WHERE p.station_id IN :stations").bindparams(bindparam("stations", expanding=True))


def holder(db: Connection, station_id: str) -> Holder | None:
    """Who holds the station now, if a live node does."""
    return holders(db, [station_id]).get(station_id)


def holders(db: Connection, station_ids: Sequence[str]) -> dict[str, Holder]:
    """Who holds each of the stations now, for those a live node holds: one read by primary key."""
    return {row.station_id: Holder(row.node_id, row.epoch)
            for row in db.execute(_OF_STATIONS, {"stations": list(station_ids)})}


def live_nodes(db: Connection) -> set[str]:
    """The nodes whose lease runs now."""
    return set(db.execute(text("SELECT node_id FROM cluster_node WHERE lease_expires_at > now()")).scalars())


def live(db: Connection) -> dict[str, Holder]:
    """Every station a live node holds."""
    return {row.station_id: Holder(row.node_id, row.epoch) for row in db.execute(text(_LIVE))}
