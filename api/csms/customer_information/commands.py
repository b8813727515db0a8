"""N09/N10 — customer information."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ocpp.v201 import call_result
from ocpp.v201.datatypes import CertificateHashDataType, IdTokenType
from ocpp.v201.enums import Action

from api.ocpp.command import Command


@dataclass(frozen=True)
class CustomerInformation(Command[call_result.CustomerInformation]):
    """N09/N10: report and/or clear what the station keeps about one customer, named by exactly
    one of id_token, customer_certificate (hash data) or customer_identifier."""

    action: ClassVar[str] = Action.customer_information
    request_id: int
    report: bool
    clear: bool
    customer_certificate: CertificateHashDataType | None = None
    id_token: IdTokenType | None = None
    customer_identifier: str | None = None
