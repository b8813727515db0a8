"""Accepted SignCertificate requests signed in batches: how a fleet's CSRs are signed at a root
rollover (every station asked for a new CSR at once) at the pace of the CA rather than of one
transaction per certificate.

A batch is one transaction: the requests are taken (accepted → signed), their certificates
issued by the fleet engine (pki/fleet_issuance.py), the chains stored as pending
CertificateSigned deliveries and every certificate audited (audit.append_many: one lock on the
hash chain for the batch); or none of it, and the requests stay accepted for the next signer
(api/csms/security/certificate_signing.py: a process that dies mid-batch loses nothing it
acknowledged). A request the CA refuses (a rule of the CSR policy, a certificate that does not
lint) fails in that same transaction with its alert, named by its rule; the others are signed.

Not batched, signed one at a time as before (``sign_or_fail``): V2G requests, and a station's
request while it has a certificate whose chain may still be waiting (a possible resend). A
station's second request in a batch waits for the next one, so it finds its first request's
certificate.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, insert, update
from sqlmodel import Session, select

from api.core.context import Context
from api.csms.outbox import signal as outbox_signal
from api.csms.security.certificate_signing import ACTOR, fail_request, key_unavailable, sign_or_fail, unsigned_requests
from api.csms.security.renewal import DELIVERY_PURPOSE, V2G_CERTIFICATE
from pki.fleet_issuance import StationCsr, issue_station_batch
from pki.issuance import IssuedChain
from pki.keystore import KeyStoreError
from storage import audit
from storage.batching import Batcher
from storage.certificate_requests import CertificateRequest, RequestStatus
from storage.certificates import CertKind, CertStatus, IssuedCertificate
from storage.db import DatabaseUnavailable, session_scope
from storage.outbox import CallStatus, OutboundCall
from storage.types import utcnow

log = logging.getLogger("chargeca.ocpp.certificates")

MAX_BATCH = 500


@dataclass(frozen=True)
class BatchResult:
    deliveries: dict[int, int] = field(default_factory=dict)    # request id → its delivery
    failed: dict[int, Exception] = field(default_factory=dict)  # request id → why (failed, alert raised)
    single: list[int] = field(default_factory=list)             # to sign one at a time (sign_or_fail)
    later: list[int] = field(default_factory=list)              # a station's further requests: next batch


def _partition(session: Session, request_ids: Sequence[int], result: BatchResult) -> list[CertificateRequest]:
    rows = list(session.exec(select(CertificateRequest).where(
        CertificateRequest.id.in_(request_ids), CertificateRequest.status == RequestStatus.ACCEPTED)
        .order_by(CertificateRequest.id)))
    maybe_resent = set(session.exec(select(IssuedCertificate.station_id).where(
        IssuedCertificate.station_id.in_({r.station_id for r in rows}), IssuedCertificate.kind == CertKind.STATION,
        IssuedCertificate.status == CertStatus.ISSUED, IssuedCertificate.not_after > utcnow())))
    batch, stations = [], set()
    for row in rows:
        if row.station_id in stations:
            result.later.append(row.id)
        elif row.certificate_type == V2G_CERTIFICATE or row.station_id in maybe_resent:
            result.single.append(row.id)
        else:
            batch.append(row)
        stations.add(row.station_id)
    return batch


def _take(session: Session, batch: list[CertificateRequest]) -> list[CertificateRequest]:
    """The requests of ``batch`` this signer takes (accepted → signed); another may have taken some."""
    taken = set(session.scalars(update(CertificateRequest)
                                .where(CertificateRequest.id.in_([r.id for r in batch]),
                                       CertificateRequest.status == RequestStatus.ACCEPTED)
                                .values(status=RequestStatus.SIGNED, settled_at=utcnow())
                                .returning(CertificateRequest.id)
                                .execution_options(synchronize_session=False)))
    return [r for r in batch if r.id in taken]


def _drop_waiting_deliveries(session: Session, stations: set[str]) -> dict[str, list[int]]:
    """Pending deliveries of station certificates these stations are about to be given newer ones
    for (A02.FR.17): failed, by station. One read for the batch."""
    waiting = list(session.exec(select(OutboundCall).where(
        OutboundCall.station_id.in_(stations), OutboundCall.purpose == DELIVERY_PURPOSE,
        OutboundCall.status == CallStatus.PENDING)))
    references = [int(r.reference) for r in waiting if (r.reference or "").isdigit()]
    kinds = dict(session.exec(select(IssuedCertificate.id, IssuedCertificate.kind)
                              .where(IssuedCertificate.id.in_(references)))) if references else {}
    dropped: dict[str, list[int]] = {}
    for row in waiting:
        if (row.reference or "").isdigit() and kinds.get(int(row.reference)) == CertKind.STATION:
            row.status, row.updated_at = CallStatus.FAILED, utcnow()
            row.error = "replaced by a certificate from a newer CSR"
            session.add(row)
            dropped.setdefault(row.station_id, []).append(row.id)
    return dropped


def _delivery(request: CertificateRequest, issued: IssuedChain) -> dict:
    payload = {"certificateChain": issued.chain_pem}
    if request.certificate_type:
        payload["certificateType"] = request.certificate_type  # A02.FR.14: echo what the station asked for
    return {"station_id": request.station_id, "action": "CertificateSigned", "payload": json.dumps(payload),
            "purpose": DELIVERY_PURPOSE, "reference": str(issued.record.id), "created_by": ACTOR,
            "status": CallStatus.PENDING, "attempts": 0, "created_at": utcnow(), "updated_at": utcnow()}


_SET_DELIVERY = (update(CertificateRequest.__table__)
                 .where(CertificateRequest.__table__.c.id == bindparam("request"))
                 .values(delivery_id=bindparam("delivery")))


def _store_deliveries(session: Session, signed: list[tuple[CertificateRequest, IssuedChain]],
                      dropped: dict[str, list[int]], result: BatchResult) -> None:
    ids = list(session.scalars(insert(OutboundCall.__table__).returning(OutboundCall.__table__.c.id,
                                                                        sort_by_parameter_order=True),
                               [_delivery(request, issued) for request, issued in signed]))
    session.execute(_SET_DELIVERY, [{"request": r.id, "delivery": d} for (r, _), d in zip(signed, ids)])
    audit.append_many(session.connection(), [audit.Record(
        ACTOR, "certificate.sign", request.station_id, audit.Outcome.SUCCESS,
        {"via": "SignCertificate", "certificate_type": request.certificate_type, "request": request.id,
         "serial": issued.record.serial_hex, "issuer": issued.issuer.id,
         "ignored_csr_extensions": list(issued.ignored_extensions), "delivery": delivery,
         "replaced_deliveries": dropped.get(request.station_id, [])})
        for (request, issued), delivery in zip(signed, ids)])
    for (request, _), delivery in zip(signed, ids):
        result.deliveries[request.id] = delivery


def sign_batch(ctx: Context, request_ids: Sequence[int]) -> BatchResult:
    """Sign what can be signed together of these accepted requests, in one transaction; see the
    module docstring for what is left to the caller (``single``, ``later``)."""
    result = BatchResult()
    with session_scope(ctx.engine) as session:
        batch = _take(session, _partition(session, request_ids, result)) if request_ids else []
        if not batch:
            return result
        outcome = issue_station_batch(session, ctx.keystore, [StationCsr(r.station_id, r.csr_pem) for r in batch],
                                      policy=ctx.policy, urls=ctx.urls)
        for request in batch:
            refused = outcome.refused.get(request.station_id)
            if refused is not None:
                fail_request(session, request, refused)
                result.failed[request.id] = refused
        signed = [(r, outcome.issued[r.station_id]) for r in batch if r.station_id in outcome.issued]
        if signed:
            dropped = _drop_waiting_deliveries(session, {r.station_id for r, _ in signed})
            _store_deliveries(session, signed, dropped, result)
    return result


def sign_all(ctx: Context, request_ids: Sequence[int]) -> list[int | None]:
    """Blocking: sign these accepted requests, ``MAX_BATCH`` at a time where they can be batched,
    one at a time where not; each one's delivery (None: failed with an alert, signed by another,
    or left accepted while the database is away). A batch that fails as a whole is signed one
    request at a time, so that only the culprit fails."""
    deliveries: dict[int, int | None] = {}
    pending = list(request_ids)
    while pending:
        chunk, pending = pending[:MAX_BATCH], pending[MAX_BATCH:]
        try:
            result = sign_batch(ctx, chunk)
        except DatabaseUnavailable as exc:
            log.warning("%d certificate requests not signed yet, the database is unavailable: %s", len(chunk), exc)
            continue
        except KeyStoreError as exc:   # the whole batch's CA: no use trying its requests one by one
            key_unavailable(ctx, chunk, exc)
            continue
        except Exception:  # noqa: BLE001 - narrowed down below, one request at a time
            log.exception("signing a batch of %d certificate requests failed; signing them one by one", len(chunk))
            result = BatchResult(single=chunk)
        deliveries.update(result.deliveries)
        for request_id in result.single:
            deliveries[request_id] = sign_or_fail(ctx, request_id)
        pending = result.later + pending
    return [deliveries.get(request_id) for request_id in request_ids]


async def finish_accepted(ctx: Context, accepted_before: datetime | None = None) -> list[int]:
    """Sign what was accepted and is still unsigned (all of it, or what was accepted before);
    the deliveries stored."""
    request_ids = await asyncio.to_thread(unsigned_requests, ctx, accepted_before)
    deliveries = [d for d in await asyncio.to_thread(sign_all, ctx, request_ids) if d is not None]
    if deliveries:
        outbox_signal.ring()
    return deliveries


# One per engine, on the loop that made it. Weakly, both ways: the entry holds only a weak
# reference to its context, or the context would keep its engine, the key, alive for ever.
_QUEUES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


async def sign_accepted(ctx: Context, request_id: int) -> int | None:
    """Sign a request just accepted, with whatever else is accepted meanwhile: what arrives while a
    batch is signed makes the next one (storage/batching.py), so a lone request is signed at once
    and a rollover's storm in large batches. Its delivery, as ``sign_all`` says."""
    loop = asyncio.get_running_loop()
    held = _QUEUES.get(ctx.engine)
    if held is None or held[0]() is not ctx or held[1] is not loop:
        context = weakref.ref(ctx)
        held = _QUEUES[ctx.engine] = (context, loop, Batcher(lambda ids: sign_all(context(), ids), max_batch=MAX_BATCH))
    delivery = await held[2](request_id)
    if delivery is not None:
        outbox_signal.ring()
    return delivery
