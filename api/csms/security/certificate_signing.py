"""SignCertificate (A02/A03): what is decided while the station waits, and the signing after.

While the station waits: only what makes a CSR unsignable whatever happens later — the station
is not registered or not on TLS, the CSR is not a well-formed PKCS#10 request proving possession
of a strong enough key, it names another station or organisation, it brings a key we already
certified (unless it resends a CSR whose chain has not reached the station yet:
api/csms/security/certificate_resend.py), or it asks for a V2G certificate while no V2G sub-CA exists
— and one thing that makes it unsignable now: the station had ``[csr] requests_per_station_per_hour``
requests accepted within the hour.
All of that is parsing, one signature verification and a few indexed reads; no CA key is
touched. Anything else (the CA failing, linting, the database) happens after the answer, and
since the station was told Accepted (A02.FR.11; TC_A_14 requires it) such a failure is an alert
for an officer (ERR2501 §2.7), never a silent loss.

An accepted request (its CSR and type) is stored in the transaction that decides to accept it,
before the answer leaves (storage/certificate_requests.py): a process killed after the answer
owes nothing it forgot. Signing takes the request (accepted → signed), records the certificate
and stores the chain as a pending delivery, all in one transaction (persist first, then push);
the outbox worker sends CertificateSigned. What a dead process accepted and did not sign is
signed when the next one starts, or by any node once it has waited ``UNSIGNED_GRACE``. A resent
CSR is not signed again: its waiting chain is made due instead. A CA key the key store cannot give
(a token away, a PIN refused, a key file missing) is waited for as the database is: the request
stays accepted and a later pass signs it once the key is back; only one still unsigned
``KEY_WAIT`` after its acceptance fails, with its alert (``key_unavailable``).

The requests accepted together (a fleet answering a rollover's triggers) are signed together:
api/csms/security/certificate_batches.py; what it does not batch is signed here, one at a time.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import Session, select

from api.core.context import Context
from api.core.refusal import Refusal
from api.csms.outbox import signal as outbox_signal
from api.csms.security.alerts import SIGNING_FAILED, raise_alert
from api.csms.security.authority_service import issue_from_csr
from api.csms.security.certificate_resend import redeliver, resent_certificate, waiting_certificates
from api.csms.security.renewal import DELIVERY_PURPOSE, V2G_CERTIFICATE
from pki.issuance import CsrRefused, IssuedChain, checked_station_csr
from pki.keystore import KeyStoreError
from pki.v2g import V2gNotConfigured, v2g_authority
from policies.keys import check_iso15118_key
from policies.model import Decision, Policy
from storage import audit
from storage.certificate_requests import CertificateRequest, RequestStatus
from storage.certificates import IssuedCertificate
from storage.db import DatabaseUnavailable, read_scope, session_scope
from storage.outbox import CallStatus, OutboundCall
from storage.stations import Station
from storage.types import utcnow

log = logging.getLogger("chargeca.ocpp.certificates")

ACTOR = "system:ocpp-certificates"
# Profile 1 is plain ws: neither the CSR nor the chain would travel over an authenticated,
# encrypted channel, and the station could not use a client certificate anyway.
TLS_PROFILES = (2, 3)
# Signing follows acceptance within milliseconds; a request still unsigned after this long has
# lost its signer (its process died, or the database was away) and any node signs it.
UNSIGNED_GRACE = timedelta(minutes=1)
# How long an accepted request waits for a CA key the key store cannot give: a token being
# replaced or an HSM being serviced come back within a day; a key destroyed never does.
KEY_WAIT = timedelta(hours=24)
# The period of [csr] requests_per_station_per_hour.
RATE_PERIOD = timedelta(hours=1)


def precheck(session: Session, *, station_id: str, csr_pem: str, certificate_type: str | None,
             security_profile: int, policy: Policy) -> Decision:
    """Whether this SignCertificate can ever be signed (see the module docstring)."""
    station = session.get(Station, station_id)
    if station is None:
        return Decision.refuse("station.unknown", f"station {station_id!r} is not registered")
    # Every accepted request is a certificate signed and kept for good: a station with fresh keys
    # could otherwise have the CA sign as fast as it sends.
    limit = policy.csr.requests_per_station_per_hour
    accepted = session.exec(select(func.count()).select_from(CertificateRequest).where(
        CertificateRequest.station_id == station_id, CertificateRequest.accepted_at >= utcnow() - RATE_PERIOD)).one()
    if accepted >= limit:
        return Decision.refuse("station.csr_rate", f"{accepted} requests of this station were accepted within "
                                                   f"the last hour, the limit is {limit}; send it again later")
    if certificate_type == V2G_CERTIFICATE:
        if v2g_authority(session) is None:
            return Decision.refuse(V2gNotConfigured.rule, str(V2gNotConfigured()))
    elif security_profile not in TLS_PROFILES:
        return Decision.refuse("station.profile", f"the station is connected with security profile "
                                                  f"{security_profile}; a ChargingStationCertificate is only "
                                                  "issued over TLS (profile 2 or 3)")
    try:
        check = checked_station_csr(session, station_id=station_id, csr_pem=csr_pem, policy=policy,
                                    in_delivery=waiting_certificates(session, station_id, certificate_type).keys())
    except CsrRefused as exc:
        return exc.decision
    if certificate_type == V2G_CERTIFICATE:
        key = check_iso15118_key(check.csr.public_key())
        if not key:
            return Decision.refuse(f"csr.{key.rule}", key.reason)
    return Decision.allow()


@dataclass(frozen=True)
class Decided:
    decision: Decision
    request_id: int | None = None   # the stored request, when accepted
    repeat: bool = False            # a refusal already audited within the window


def decide_request(session: Session, *, station_id: str, csr_pem: str, certificate_type: str | None,
                   security_profile: int, policy: Policy,
                   first_refusal: Callable[[str], bool] = lambda rule: True) -> Decided:
    """``precheck``; an accepted request is stored (the intent, before the answer), a refusal
    audited (the station asked; the CSR itself is not kept).

    A station can send a refused CSR again as fast as it sends, and the audit chain has no bound
    and one lock: a refusal for which ``first_refusal(rule)`` is False (the station's connection
    had one under that rule within ``REPEAT_WINDOW``) is answered the same and not audited again;
    the message log keeps its frame."""
    decision = precheck(session, station_id=station_id, csr_pem=csr_pem, certificate_type=certificate_type,
                        security_profile=security_profile, policy=policy)
    if not decision:
        if not first_refusal(decision.rule):
            return Decided(decision, repeat=True)
        audit.append(session, actor=ACTOR, action="certificate.sign", target=station_id,
                     outcome=audit.Outcome.REFUSED,
                     detail={"via": "SignCertificate", "certificate_type": certificate_type,
                             "rule": decision.rule, "error": decision.reason[:500]})
        return Decided(decision)
    request = CertificateRequest(station_id=station_id, certificate_type=certificate_type, csr_pem=csr_pem)
    session.add(request)
    session.flush()
    return Decided(decision, request.id)


def _drop_waiting_deliveries(session: Session, issued: IssuedChain) -> list[int]:
    """Deliveries of the same kind not sent yet carry a certificate this one just superseded
    (the station sent a newer CSR, A02.FR.17): sending them would only confuse the station."""
    waiting = session.exec(select(OutboundCall).where(
        OutboundCall.station_id == issued.record.station_id, OutboundCall.purpose == DELIVERY_PURPOSE,
        OutboundCall.status == CallStatus.PENDING)).all()
    dropped = []
    for row in waiting:
        certificate = session.get(IssuedCertificate, int(row.reference)) if (row.reference or "").isdigit() else None
        if certificate is not None and certificate.kind == issued.record.kind:
            row.status = CallStatus.FAILED
            row.error = f"replaced by certificate {issued.record.serial_hex} from a newer CSR"
            row.updated_at = utcnow()
            session.add(row)
            dropped.append(row.id)
    return dropped


def _take(session: Session, request_id: int) -> CertificateRequest | None:
    """The accepted request, now ``signed`` in this transaction; None when another signer took it."""
    taken = session.execute(update(CertificateRequest)
                            .where(CertificateRequest.id == request_id,
                                   CertificateRequest.status == RequestStatus.ACCEPTED)
                            .values(status=RequestStatus.SIGNED, settled_at=utcnow()))
    return session.get(CertificateRequest, request_id) if taken.rowcount == 1 else None


def sign_and_store(ctx: Context, request_id: int) -> int | None:
    """Sign an accepted request, record it, and store the chain as a pending CertificateSigned;
    the delivery's id (None: another signer took the request). A resent CSR gets the delivery of
    its waiting chain instead. Raises what the CA raises (CsrRefused, V2gNotConfigured, ...);
    the request then stays accepted."""
    with session_scope(ctx.engine) as session:
        request = _take(session, request_id)
        if request is None:
            return None
        resent = resent_certificate(session, request.station_id, request.csr_pem, request.certificate_type)
        if resent is not None:
            request.delivery_id = _redeliver(session, resent, request)
        else:
            request.delivery_id = _issue_and_queue(session, ctx, request)
        session.add(request)
        return request.delivery_id


def _issue_and_queue(session: Session, ctx: Context, request: CertificateRequest) -> int:
    station_id, certificate_type = request.station_id, request.certificate_type
    issued, signed = issue_from_csr(session, ctx, station_id, request.csr_pem, certificate_type)
    dropped = _drop_waiting_deliveries(session, issued)
    payload = {"certificateChain": issued.chain_pem}
    if certificate_type:
        payload["certificateType"] = certificate_type  # A02.FR.14: echo what the station asked for
    row = OutboundCall(station_id=station_id, action="CertificateSigned", payload=json.dumps(payload),
                       purpose=DELIVERY_PURPOSE, reference=str(issued.record.id), created_by=ACTOR)
    session.add(row)
    session.flush()
    audit.append(session, actor=ACTOR, action="certificate.sign", target=station_id, outcome=audit.Outcome.SUCCESS,
                 detail={"via": "SignCertificate", "certificate_type": certificate_type, "request": request.id,
                         **signed, "delivery": row.id, "replaced_deliveries": dropped})
    return row.id


def _redeliver(session: Session, certificate: IssuedCertificate, request: CertificateRequest) -> int:
    row = redeliver(session, certificate, created_by=ACTOR)
    audit.append(session, actor=ACTOR, action="certificate.redeliver", target=certificate.station_id,
                 outcome=audit.Outcome.SUCCESS,
                 detail={"via": "SignCertificate", "why": "the same CSR again while its chain was undelivered",
                         "certificate_type": request.certificate_type, "request": request.id,
                         "serial": certificate.serial_hex, "delivery": row.id})
    return row.id


def _failure(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, Refusal):  # a rule of the CSR policy, an unknown station, no V2G sub-CA, ...
        return exc.rule, exc.reason
    # The class and message only: the traceback goes to the server log.
    return "ca.error", f"{type(exc).__name__}: {exc}"


def fail_request(session: Session, request: CertificateRequest, exc: Exception) -> None:
    """The request could not be signed: it fails, with an alert (the station was told Accepted)."""
    rule, reason = _failure(exc)
    request.status, request.settled_at, request.error = RequestStatus.FAILED, utcnow(), f"{rule}: {reason}"[:500]
    session.add(request)
    raise_alert(session, station_id=request.station_id, event_type=SIGNING_FAILED, rule=rule,
                reason=f"SignCertificate was accepted but not signed: {reason}", actor=ACTOR,
                detail={"certificate_type": request.certificate_type, "request": request.id})


def record_failure(ctx: Context, request_id: int, exc: Exception) -> None:
    """``fail_request`` in a transaction of its own, unless the request was settled meanwhile."""
    with session_scope(ctx.engine) as session:
        request = session.get(CertificateRequest, request_id)
        if request is None or request.status != RequestStatus.ACCEPTED:
            return
        fail_request(session, request, exc)


def sign_or_fail(ctx: Context, request_id: int) -> int | None:
    """Blocking: sign an accepted request; the pending delivery's id, or None (signed by another,
    failed with an alert, or left accepted while the database is away)."""
    try:
        return sign_and_store(ctx, request_id)
    except DatabaseUnavailable as exc:
        # Nothing was stored, the request is still accepted: signed when the database is back.
        log.warning("certificate request %s not signed yet, the database is unavailable: %s", request_id, exc)
        return None
    except KeyStoreError as exc:
        key_unavailable(ctx, [request_id], exc)
        return None
    except Exception as exc:  # noqa: BLE001 - every failure after Accepted must reach an officer
        log.exception("signing certificate request %s failed", request_id)
        record_failure(ctx, request_id, exc)
        return None


def key_unavailable(ctx: Context, request_ids: Sequence[int], exc: KeyStoreError) -> None:
    """The key store failed these accepted requests (nothing was stored): they stay accepted, for a
    later pass, except those accepted ``KEY_WAIT`` ago or more, which fail with their alert."""
    log.error("CA key unavailable: %d certificate request(s) kept accepted, signed once it is back "
              "(those older than %s fail): %s", len(request_ids), KEY_WAIT, exc)
    try:
        with session_scope(ctx.engine) as session:
            stale = session.exec(select(CertificateRequest).where(
                CertificateRequest.id.in_(request_ids), CertificateRequest.status == RequestStatus.ACCEPTED,
                CertificateRequest.accepted_at < utcnow() - KEY_WAIT)).all()
            for request in stale:
                fail_request(session, request, exc)
    except DatabaseUnavailable as gone:
        log.warning("the database is unavailable too; the requests stay accepted: %s", gone)


async def sign_and_queue(ctx: Context, request_id: int) -> int | None:
    """``sign_or_fail`` on a worker thread, and the outbox rung for the delivery."""
    delivery = await asyncio.to_thread(sign_or_fail, ctx, request_id)
    if delivery is not None:
        outbox_signal.ring()
    return delivery


def unsigned_requests(ctx: Context, accepted_before: datetime | None) -> list[int]:
    """Accepted requests not signed yet, oldest first (all of them, or those accepted before)."""
    query = select(CertificateRequest.id).where(CertificateRequest.status == RequestStatus.ACCEPTED)
    if accepted_before is not None:
        query = query.where(CertificateRequest.accepted_at < accepted_before)
    with read_scope(ctx.engine) as session:
        return list(session.exec(query.order_by(CertificateRequest.id)))
