"""Several ChargeCA nodes on one PostgreSQL and one NATS (issue 13; docs/architecture.md,
"More than one node").

One job per module: ``config`` (cluster mode and its start-up checks), ``bus`` (the NATS
connection and its subjects), ``holding`` (the stations this node holds: claim, lease, fencing),
``relay`` (a CSMS call for a station another node holds), ``notices`` (what every node must hear
at once: TLS reloads, outbox rows, disconnect requests) and ``node`` (all of it started and
stopped beside the stack). Cluster-wide locks are PostgreSQL advisory locks (storage/advisory_locks.py),
used by layers below this one. Nothing here runs, nor is imported by
the hot path, when no NATS URL is set.
"""
