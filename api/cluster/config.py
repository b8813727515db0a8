"""Cluster mode: on when a NATS URL is set, and refused at start unless it can work.

Several nodes share stations only through PostgreSQL (presence, leases, advisory locks) and
NATS (relayed calls, notices). SQLite is one process's database: a node on it would hold a
private copy of the truth, so cluster mode on SQLite is refused before anything starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.core.settings import Settings, SettingsError


class ClusterRefused(SettingsError):
    """Cluster mode was asked for and cannot run; the message says why and what to do (the CLI
    prints it and exits with its set-up code, 3)."""


@dataclass(frozen=True)
class ClusterConfig:
    nats_url: str
    node_id: str
    # A node that stops renewing loses its stations after this long (the others then see them
    # offline, and a station reconnecting elsewhere is claimed there at once anyway).
    lease_seconds: float = 15.0
    # How long a node waits for NATS at start before refusing to run.
    connect_timeout: float = 5.0

    @property
    def renew_every(self) -> float:
        return self.lease_seconds / 3

    @classmethod
    def of(cls, settings: Settings) -> "ClusterConfig | None":
        """None: one process, no cluster (no NATS needed). Raises ClusterRefused on SQLite."""
        if not settings.nats_url:
            return None
        if not settings.database_url.startswith("postgresql"):
            raise ClusterRefused(
                f"cluster mode (CHARGECA_NATS_URL={settings.nats_url}) needs PostgreSQL, and the database is "
                f"{settings.database_url.split(':', 1)[0]}: set CHARGECA_DATABASE_URL=postgresql+psycopg://... "
                f"shared by every node, or unset CHARGECA_NATS_URL to run one process")
        return cls(settings.nats_url, settings.node_id)
