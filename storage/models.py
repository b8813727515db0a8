"""Every table, imported once so that migrations and tests see the whole schema."""

from sqlmodel import SQLModel

from storage import (  # noqa: F401
    audit,
    certificate_requests,
    certificates,
    id_tokens,
    meter_values,
    outbox,
    security_events,
    stations,
    tokens,
    transactions,
)

metadata = SQLModel.metadata
