"""The two kinds of outbox row the station-certificate workflows store.

- ``certificate_delivery``: CertificateSigned with a signed chain. Before it leaves, the chain
  must fit the station's SecurityCtrlr.MaxCertificateChainSize (read with GetVariables once,
  then kept in Station.max_chain_size) and the policy's limit; a chain that does not fit is
  never sent: the delivery fails with rule chain.station_max (or chain.size) and an alert
  (CertificateChainTooLong).
  A limit below the station's own certificate fits no chain and is misreported (certification
  tools found stations reporting 0): it is ignored with a warning event, the chain goes under
  the policy's ceiling, and the station's answer decides.
  A Rejected answer (A02.FR.07) starts the next renewal round.
- ``certificate_renewal``: TriggerMessage SignChargingStationCertificate (api/csms/security/renewal.py).
  Anything but Accepted starts the next round too.

Both are sent by the outbox engine (api/csms/outbox/engine.py); a row of either that fails for
good (attempts used up, or refused) raises an alert.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

from sqlmodel import Session

from api.core.refusal import Refusal
from api.csms.outbox.engine import Failure, Kind, NotNow
from api.csms.provisioning.device_variables import read_variable
from api.csms.security.alerts import CHAIN_TOO_LONG, DELIVERY_FAILED, RENEWAL_FAILED, raise_alert
from api.csms.security.handlers import record_csms_event
from api.csms.security.renewal import (
    CHARGING_STATION_CERTIFICATE,
    DELIVERY_PURPOSE,
    PURPOSE,
    RETRIES,
    certificate_type_of,
    retry_after_failure,
)
from api.ocpp.gateway import Gateway
from policies.chain import check_chain_size, station_max_plausible
from policies.model import Policy
from storage import audit
from storage.certificates import IssuedCertificate
from storage.db import session_scope
from storage.outbox import OutboundCall
from storage.stations import Station

DELIVERY_ACTOR = "system:certificate-delivery"
OUTBOX_ACTOR = "system:outbox"
# CertificateSignedRequest.certificateChain is string[..10000]: a station that has no
# MaxCertificateChainSize accepts what the schema allows.
SCHEMA_CHAIN_MAX = 10000
# Security event (source "csms", not critical) when a station's limit cannot be true.
CHAIN_SIZE_MISREPORTED = "CertificateChainSizeMisreported"


def _known_limit(gateway: Gateway, station_id: str) -> int | None:
    with session_scope(gateway.ctx.engine) as session:
        station = session.get(Station, station_id)
        return station.max_chain_size if station else None


def _remember_limit(gateway: Gateway, station_id: str, limit: int) -> None:
    with session_scope(gateway.ctx.engine) as session:
        station = session.get(Station, station_id)
        if station is not None:
            station.max_chain_size = limit
            session.add(station)


async def station_chain_limit(gateway: Gateway, station_id: str) -> int | None:
    """The station's MaxCertificateChainSize; None when it could not tell (CALLERROR): then only
    the policy's limit applies. Raises NotNow when the station did not answer."""
    known = await asyncio.to_thread(_known_limit, gateway, station_id)
    if known is not None:
        return known
    read = await read_variable(gateway, station_id, "SecurityCtrlr", "MaxCertificateChainSize")
    if read.answered and read.status == "Accepted" and (read.value or "").strip().isdigit():
        limit = int(read.value)
    elif read.answered:
        # UnknownVariable / UnknownComponent (the variable is optional) or a value that is no
        # number: no limit of its own. Cached as the schema's limit, so it is asked only once.
        limit = SCHEMA_CHAIN_MAX
    elif read.status == "error":
        return None  # a CALLERROR: it cannot tell now; ask again before the next delivery
    else:
        raise NotNow(f"SecurityCtrlr.MaxCertificateChainSize not read ({read.status})", sent=read.status == "timeout")
    await asyncio.to_thread(_remember_limit, gateway, station_id, limit)
    return limit


def _warn(gateway: Gateway, station_id: str, misreported) -> None:
    with session_scope(gateway.ctx.engine) as session:
        record_csms_event(session, station_id, CHAIN_SIZE_MISREPORTED,
                          f"{misreported.rule}: {misreported.reason}; sent under the policy's limit", critical=False)


def _certificate(session: Session, row: OutboundCall) -> IssuedCertificate | None:
    return session.get(IssuedCertificate, int(row.reference)) if (row.reference or "").isdigit() else None


def _alert(session: Session, row: OutboundCall, failure: Failure, event_type: str) -> None:
    raise_alert(session, station_id=row.station_id, event_type=event_type, rule=failure.rule, reason=failure.reason,
                actor=OUTBOX_ACTOR, detail={"call_id": row.id, "action": row.action})


class CertificateDelivery(Kind):
    purpose = DELIVERY_PURPOSE

    def __init__(self, policy: Policy) -> None:
        self._policy = policy

    async def prepare(self, gateway: Gateway, row: OutboundCall) -> dict[str, Any]:
        payload = json.loads(row.payload)
        limit = await station_chain_limit(gateway, row.station_id)
        if limit is not None:
            plausible = station_max_plausible(payload["certificateChain"], limit)
            if not plausible:
                if row.attempts == 0:  # once per delivery, not on every retry
                    await asyncio.to_thread(_warn, gateway, row.station_id, plausible)
                limit = None
        fits = check_chain_size(payload["certificateChain"], self._policy.chain, limit)
        if not fits:
            raise Refusal(fits.rule, fits.reason)
        return payload

    def answered(self, session: Session, row: OutboundCall, response: dict[str, Any], now: datetime) -> None:
        certificate = _certificate(session, row)
        certificate_type = json.loads(row.payload).get("certificateType", CHARGING_STATION_CERTIFICATE)
        accepted = response.get("status") == "Accepted"
        audit.append(session, actor=DELIVERY_ACTOR, action="certificate.deliver", target=row.station_id,
                     outcome=audit.Outcome.SUCCESS if accepted else audit.Outcome.REFUSED,
                     detail={"call_id": row.id, "serial": certificate.serial_hex if certificate else None,
                             "certificate_type": certificate_type, "answer": response.get("status"),
                             **({"status_info": response["statusInfo"]} if "statusInfo" in response else {})})
        if not accepted:
            retry_after_failure(session, row.station_id, certificate_type=certificate_type,
                                cause="station answered CertificateSigned Rejected", policy=self._policy, now=now)

    def failed(self, session: Session, row: OutboundCall, failure: Failure, now: datetime) -> None:
        # Rules named chain.* are policies/chain.py's: the chain does not fit the station.
        _alert(session, row, failure, CHAIN_TOO_LONG if failure.rule.startswith("chain.") else DELIVERY_FAILED)


class RenewalTrigger(Kind):
    purpose = PURPOSE

    def __init__(self, policy: Policy) -> None:
        self._policy = policy

    def answered(self, session: Session, row: OutboundCall, response: dict[str, Any], now: datetime) -> None:
        payload = json.loads(row.payload)
        accepted = response.get("status") == "Accepted"
        audit.append(session, actor=RETRIES, action="certificate.renewal.trigger", target=row.station_id,
                     outcome=audit.Outcome.SUCCESS if accepted else audit.Outcome.REFUSED,
                     detail={"call_id": row.id, "round": row.reference, "requested": payload["requestedMessage"],
                             "answer": response.get("status")})
        if not accepted:
            retry_after_failure(session, row.station_id, certificate_type=certificate_type_of(payload),
                                cause=f"station answered TriggerMessage {response.get('status')}",
                                policy=self._policy, now=now)

    def failed(self, session: Session, row: OutboundCall, failure: Failure, now: datetime) -> None:
        _alert(session, row, failure, RENEWAL_FAILED)
