"""Every table, imported once so that migrations and tests see the whole schema."""

from sqlmodel import SQLModel

from storage import (  # noqa: F401
    audit,
    certificate_requests,
    certificates,
    connector_status,
    customer_information,
    device_model,
    display_messages,
    file_transfer,
    firmware,
    id_tokens,
    journal,
    logs,
    message_log,
    meter_values,
    monitoring,
    outbox,
    presence,
    remote_starts,
    report_requests,
    reservations,
    security_events,
    stations,
    tariffs,
    tokens,
    transactions,
)

metadata = SQLModel.metadata
