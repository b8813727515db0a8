"""SignCertificate requests accepted and not yet signed: the intent, stored before the answer.

A station told Accepted is owed a certificate. The request (its CSR and type) is stored in the
transaction that decided to accept it, before the answer leaves; signing happens after. A
request goes accepted → signed (in the transaction that stores the certificate and its delivery)
or → failed (with an alert). Whoever signs first takes it with a conditional update inside that
transaction, so a restarted process or another node finishing what a dead one accepted can
never sign it twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from storage.types import UtcDateTime, utcnow


class RequestStatus:
    ACCEPTED = "accepted"   # the station was told Accepted; not signed yet
    SIGNED = "signed"       # certificate issued, its delivery stored (delivery_id)
    FAILED = "failed"       # could not be signed; an alert was raised (error)


class CertificateRequest(SQLModel, table=True):
    __tablename__ = "certificate_request"

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(foreign_key="station.id", index=True, max_length=48)
    certificate_type: str | None = Field(default=None, max_length=32)
    # SignCertificateRequest.csr is string[..5500]
    csr_pem: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default=RequestStatus.ACCEPTED, index=True, max_length=16)
    accepted_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    settled_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    delivery_id: int | None = Field(default=None)
    error: str | None = Field(default=None, max_length=500)
