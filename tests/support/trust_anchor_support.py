"""Shared steps of the M03/M04/M05 cases: a booted simulated station on profile 2 (wss + Basic),
the trust-anchor REST calls an officer or operator makes, and what the station received."""

from __future__ import annotations

import datetime
import os
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from pki_fixtures import name
from sqlmodel import select

from api.core.audit import run_in_session
from simulator.station import SimulatedStation
from storage.audit import AuditEntry

CSMS_ROOT = "CSMSRootCertificate"
MANUFACTURER_ROOT = "ManufacturerRootCertificate"


async def booted(csms, station_id: str, *, profile: int = 2, hash_algorithm: str = "SHA256",
                 additional_root_check: bool = False) -> SimulatedStation:
    password = csms.add_station(station_id, profile=profile)
    station = csms.simulator(station_id, profile=profile, password=password)
    station.certificates.hash_algorithm = hash_algorithm
    station.certificates.additional_root_check = additional_root_check
    await station.connect()
    assert (await station.boot())["status"] == "Accepted"
    await csms.connected(station_id)
    return station


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(Encoding.PEM).decode()


def csms_root(csms) -> x509.Certificate:
    """The CSMS root the lab configured: the one our server certificates chain to."""
    return x509.load_pem_x509_certificate(csms.root_pem.read_bytes())


def base(station_id: str) -> str:
    return f"/api/v1/stations/{station_id}/installed-certificates"


async def install(csms, station_id: str, role: str = "officer", **body: Any):
    return await csms.rest.post(base(station_id), json=body, headers=csms.headers(role))


async def refresh(csms, station_id: str, types: list[str] | None = None, role: str = "operator"):
    return await csms.rest.post(f"{base(station_id)}/refresh", json={"types": types} if types else None,
                                headers=csms.headers(role))


async def inventory(csms, station_id: str, role: str = "auditor") -> dict:
    answer = await csms.rest.get(base(station_id), headers=csms.headers(role))
    assert answer.status_code == 200, answer.text
    return answer.json()


async def delete_row(csms, station_id: str, row_id: int, role: str = "officer", **params: Any):
    return await csms.rest.delete(f"{base(station_id)}/{row_id}", params=params, headers=csms.headers(role))


async def delete_fresh(csms, station_id: str, role: str = "officer", **body: Any):
    return await csms.rest.post(f"{base(station_id)}/delete", json=body, headers=csms.headers(role))


def requests(station: SimulatedStation, action: str) -> list[dict]:
    return [payload for received, payload in station.received if received == action]


def actions(station: SimulatedStation) -> list[str]:
    return [action for action, _ in station.received]


def record_answers(station: SimulatedStation, action: str) -> list[dict]:
    """Keep every answer the station gives to ``action`` (to compare with what the CSMS sends next)."""
    answers: list[dict] = []
    handler = station.handlers[action]

    def recording(st, payload):
        answer = handler(st, payload)
        answers.append(answer)
        return answer

    station.handlers[action] = recording
    return answers


def audit(csms, action: str, station_id: str) -> list[AuditEntry]:
    query = (select(AuditEntry).where(AuditEntry.action == action, AuditEntry.target == station_id)
             .order_by(AuditEntry.seq))
    return run_in_session(csms.ctx, lambda s: list(s.exec(query)))


def candidate_root(*, ca: bool = True, key_cert_sign: bool = True, days: tuple[int, int] = (-1, 3650),
                   padding: int = 0) -> x509.Certificate:
    """A self-signed certificate with one thing wrong at a time (or nothing)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = name("Candidate Root")
    usage = dict(digital_signature=False, content_commitment=False, key_encipherment=False,
                 data_encipherment=False, key_agreement=False, crl_sign=True, encipher_only=False,
                 decipher_only=False)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
               .public_key(key.public_key()).serial_number(0xB0)
               .not_valid_before(now + datetime.timedelta(days=days[0]))
               .not_valid_after(now + datetime.timedelta(days=days[1]))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(key_cert_sign=key_cert_sign, **usage), critical=True))
    if padding:  # an opaque extension that only makes the certificate big
        builder = builder.add_extension(x509.UnrecognizedExtension(
            x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), os.urandom(padding)), critical=False)
    return builder.sign(key, hashes.SHA256())
