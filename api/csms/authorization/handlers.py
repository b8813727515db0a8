"""Functional block C — Authorization: Authorize (C01, C09 by group, C16 master pass).

ChargeCA holds no contract (ISO 15118 / eMAID) certificate authority and no OCSP data of the
mobility operators, so it cannot check a contract certificate (C07). When the request carries
one (``certificate`` or ``iso15118CertificateHashData``), the answer says so honestly with
certificateStatus NoCertificateAvailable — never Accepted for a certificate nobody checked — and
the idToken is judged from the token store as any other. Without certificate data the field is
left out, as the schema allows.
"""

from __future__ import annotations

from typing import Any

from ocpp.v201.enums import AuthorizeCertificateStatusEnumType

from api.csms.authorization import service
from api.ocpp.handler import StationCall


async def authorize(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    info = await call.db(lambda session: service.id_token_info(session, call.station_id, payload["idToken"]))
    answer: dict[str, Any] = {"idTokenInfo": info}
    if "certificate" in payload or "iso15118CertificateHashData" in payload:
        answer["certificateStatus"] = AuthorizeCertificateStatusEnumType.no_certificate_available.value
    return answer
