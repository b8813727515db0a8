"""Every table, imported once so that migrations and tests see the whole schema."""

from sqlmodel import SQLModel

from storage import audit, certificate_requests, certificates, outbox, security_events, stations, tokens  # noqa: F401
from storage import connector_status, remote_starts, reservations, tariffs  # noqa: F401

metadata = SQLModel.metadata
