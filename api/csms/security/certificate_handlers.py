"""Functional block A — station certificates: SignCertificate (A02/A03).

The answer only says whether the CSR can be signed at all (api/csms/security/certificate_signing.py
says what that covers); the signing and the CertificateSigned follow the answer.
"""

from __future__ import annotations

import logging
from typing import Any

from api.csms.security.alerts import REPEAT_WINDOW
from api.csms.security.certificate_batches import sign_accepted
from api.csms.security.certificate_signing import decide_request
from api.ocpp.handler import StationCall, status_info

log = logging.getLogger("chargeca.ocpp.certificates")

# The reason code (StatusInfoType.reasonCode) for each family of rules; additionalInfo names the rule.
_REASON_CODES = {"csr": "InvalidCSR", "station.unknown": "UnknownStation",
                 "station.profile": "WrongSecurityProfile", "station.csr_rate": "RateLimitExceeded",
                 "v2g": "NoV2GCA"}


def _reason_code(rule: str) -> str:
    for prefix, code in _REASON_CODES.items():
        if rule == prefix or rule.startswith(prefix + "."):
            return code
    return "Rejected"


async def sign_certificate(call: StationCall, payload: dict[str, Any]) -> dict[str, Any]:
    csr, certificate_type = payload["csr"], payload.get("certificateType")
    # The accepted request is stored in this transaction: committed before the answer leaves.
    decided = await call.db(lambda session: decide_request(
        session, station_id=call.station_id, csr_pem=csr, certificate_type=certificate_type,
        security_profile=call.connection.security_profile, policy=call.ctx.policy,
        first_refusal=lambda rule: call.live.repeats.first("certificate.sign", rule, REPEAT_WINDOW.total_seconds())))
    decision = decided.decision
    if not decision:
        log.log(logging.DEBUG if decided.repeat else logging.INFO, "SignCertificate from %s rejected: %s",
                call.station_id, decision.rule)
        return {"status": "Rejected", "statusInfo": status_info(_reason_code(decision.rule), decision.rule, decision.reason)}
    # Signed with whatever else was accepted meanwhile (a rollover's storm of CSRs: one batch).
    call.after(lambda: sign_accepted(call.ctx, decided.request_id))
    return {"status": "Accepted"}

