"""What stations reported about a customer (NotifyCustomerInformation, N09/N10): the parts of
each stream, in the order of their seqNo, under the request they answer (storage/report_requests.py).

Personal data: read only through the customer-information routes (officer, auditor; each read
audited), deleted with its request by the [customer_information] retention, at most
``parts_per_request`` parts of 512 characters per request.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UtcDateTime, utcnow


class CustomerInformationPart(SQLModel, table=True):
    __tablename__ = "customer_information_part"
    __table_args__ = (UniqueConstraint("report_id", "seq_no", name="uq_customer_information_part_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(index=True)      # report_request.id
    seq_no: int
    tbc: bool = False
    data: str = Field(max_length=512)
    generated_at: datetime = Field(sa_type=UtcDateTime)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
