"""Every table, imported once so that migrations and tests see the whole schema."""

from sqlmodel import SQLModel

from storage import (  # noqa: F401
    audit,
    certificate_requests,
    certificates,
    connector_status,
    id_tokens,
    message_log,
    meter_values,
    outbox,
    remote_starts,
    reservations,
    security_events,
    stations,
    tariffs,
    tokens,
    transactions,
)

metadata = SQLModel.metadata
