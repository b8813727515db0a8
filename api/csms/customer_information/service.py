"""Block N's customer information (N09/N10): the requests we sent, the station's answers, and
the data it reported for each (NotifyCustomerInformation), in seqNo order.

What the station sends is personal data: it is kept only under a request we sent, at most
``parts_per_request`` parts, for ``retention_days`` ([customer_information] policy), and read
only through the customer-information routes (officer, auditor), each read audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, select

from api.csms import report_streams
from api.ocpp.handler import parse_datetime
from policies.model import CustomerInformationPolicy, Decision
from storage.customer_information import CustomerInformationPart
from storage.report_requests import CUSTOMER_INFORMATION, ReportRequest
from storage.types import utcnow

_IDENTIFIERS = ("idToken", "customerCertificate", "customerIdentifier")


def check_request(payload: Mapping[str, Any]) -> Decision:
    """N09.FR.09 / N10: a request names its customer by exactly one of idToken,
    customerCertificate or customerIdentifier, and asks for a report, a clear or both."""
    named = [key for key in _IDENTIFIERS if payload.get(key) is not None]
    if len(named) != 1:
        return Decision.refuse("call.customer_information.identifier",
                               "CustomerInformation names its customer by exactly one of idToken, "
                               f"customerCertificate or customerIdentifier (given: {', '.join(named) or 'none'})")
    if not payload.get("report") and not payload.get("clear"):
        return Decision.refuse("call.customer_information.nothing",
                               "CustomerInformation with report and clear both false asks the station for nothing")
    return Decision.allow()


# CustomerInformation's answer: Accepted, Rejected or Invalid.
STREAM = report_streams.Stream(CUSTOMER_INFORMATION, ("report", "clear", *_IDENTIFIERS))


@dataclass(frozen=True)
class Kept:
    """What became of one NotifyCustomerInformation: ``known`` (we sent its request), ``stored``
    (False past the policy's parts per request, or a seqNo already kept)."""

    known: bool
    stored: bool


def record_part(session: Session, station_id: str, payload: Mapping[str, Any],
                policy: CustomerInformationPolicy) -> Kept:
    request = report_streams.part(session, station_id, CUSTOMER_INFORMATION, payload["requestId"],
                                  payload["seqNo"], payload.get("tbc", False))
    if request is None:
        return Kept(known=False, stored=False)
    kept = session.exec(select(func.count()).select_from(CustomerInformationPart)
                        .where(CustomerInformationPart.report_id == request.id)).one()
    duplicate = session.exec(select(CustomerInformationPart.id).where(
        CustomerInformationPart.report_id == request.id, CustomerInformationPart.seq_no == payload["seqNo"])).first()
    if kept >= policy.parts_per_request or duplicate is not None:
        return Kept(known=True, stored=False)
    session.add(CustomerInformationPart(report_id=request.id, seq_no=payload["seqNo"],
                                        tbc=payload.get("tbc", False), data=payload["data"],
                                        generated_at=parse_datetime(payload["generatedAt"], "generatedAt")))
    return Kept(known=True, stored=True)


def listed(session: Session, station_id: str, *, limit: int = 100, before_id: int | None = None
           ) -> list[ReportRequest]:
    return report_streams.listed(session, station_id, CUSTOMER_INFORMATION, limit=limit, before_id=before_id)


def one(session: Session, station_id: str, request_id: int) -> tuple[ReportRequest, list[CustomerInformationPart]] | None:
    request = report_streams.find(session, station_id, CUSTOMER_INFORMATION, request_id)
    if request is None:
        return None
    parts = session.exec(select(CustomerInformationPart).where(CustomerInformationPart.report_id == request.id)
                         .order_by(CustomerInformationPart.seq_no))
    return request, list(parts)


def prune(session: Session, *, older_than: timedelta, now: datetime | None = None) -> int:
    """Delete requests made before ``now - older_than`` with their parts; returns how many requests."""
    cutoff = (now or utcnow()) - older_than
    old = list(session.exec(select(ReportRequest.id).where(ReportRequest.kind == CUSTOMER_INFORMATION,
                                                           ReportRequest.requested_at < cutoff)))
    if not old:
        return 0
    session.exec(delete(CustomerInformationPart).where(CustomerInformationPart.report_id.in_(old)))
    session.exec(delete(ReportRequest).where(ReportRequest.id.in_(old)))
    return len(old)
