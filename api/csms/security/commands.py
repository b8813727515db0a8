"""A, M — what the CSMS sends a station about its certificates (A02/A03, M03–M05).

The trust-anchor workflows (trust_anchors.py, installed_certificates.py) send these too, with
their safety rules around them; so does the generic call, through the same rules
(api/csms/call_rules.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ocpp.v201 import call_result
from ocpp.v201.datatypes import CertificateHashDataType
from ocpp.v201.enums import (
    Action,
    CertificateSigningUseEnumType,
    GetCertificateIdUseEnumType,
    InstallCertificateUseEnumType,
)

from api.ocpp.command import Command


@dataclass(frozen=True)
class CertificateSigned(Command[call_result.CertificateSigned]):
    """A02/A03: the chain ChargeCA signed for the station's CSR."""

    action: ClassVar[str] = Action.certificate_signed
    certificate_chain: str
    certificate_type: CertificateSigningUseEnumType | None = None


@dataclass(frozen=True)
class DeleteCertificate(Command[call_result.DeleteCertificate]):
    """M04: remove one installed certificate, named by the hash data the station reported."""

    action: ClassVar[str] = Action.delete_certificate
    certificate_hash_data: CertificateHashDataType


@dataclass(frozen=True)
class GetInstalledCertificateIds(Command[call_result.GetInstalledCertificateIds]):
    """M03: which certificates the station holds (all types when none is named)."""

    action: ClassVar[str] = Action.get_installed_certificate_ids
    certificate_type: list[GetCertificateIdUseEnumType] | None = None


@dataclass(frozen=True)
class InstallCertificate(Command[call_result.InstallCertificate]):
    """M05: install a trust anchor (a root certificate) on the station."""

    action: ClassVar[str] = Action.install_certificate
    certificate_type: InstallCertificateUseEnumType
    certificate: str
