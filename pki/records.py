"""Signing a certificate and recording it, as one step: nothing we sign goes unrecorded."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from pki.lint import sign_linted, signature_hash_for
from pki.serials import random_serial, serial_hex
from policies.csr import key_fingerprint
from storage.certificates import IssuedCertificate

_SERIAL_ATTEMPTS = 3


def sign_and_record(session: Session, builder: x509.CertificateBuilder, issuer_key: PrivateKeyTypes, *,
                    issuer_id: str, kind: str, status: str, station_id: str | None = None,
                    key_label: str | None = None, lint: bool = True) -> tuple[x509.Certificate, IssuedCertificate]:
    """Lint, sign and store. The (issuer, serial) UNIQUE constraint is the final word on serial
    uniqueness; on the astronomically rare clash the certificate is signed again with a new serial."""
    for _ in range(_SERIAL_ATTEMPTS):
        certificate = sign_linted(builder.serial_number(random_serial()), issuer_key, signature_hash_for(issuer_key), lint=lint)
        record = IssuedCertificate(
            issuer_id=issuer_id,
            serial_hex=serial_hex(certificate.serial_number),
            kind=kind,
            subject_cn=_common_name(certificate),
            station_id=station_id,
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            public_key_sha256=key_fingerprint(certificate.public_key()),
            certificate_pem=certificate.public_bytes(Encoding.PEM).decode(),
            status=status,
            key_label=key_label,
        )
        savepoint = session.begin_nested()
        try:
            session.add(record)
            session.flush()
        except IntegrityError:
            savepoint.rollback()
            continue
        savepoint.commit()
        return certificate, record
    raise RuntimeError("could not allocate a unique serial number")


def _common_name(certificate: x509.Certificate) -> str:
    values = certificate.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""
