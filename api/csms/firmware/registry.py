"""The firmware registry (L01): manufacturer roots, images with their signature and signing
certificate, revoked signing certificates, and ChargeCA's own signer for a CSO's builds.

An image arrives as a file already streamed to a staging path under ``DATA/firmware/`` (the REST
route and the CLI each stream it there, hashing as they go, within the size limit); registering
it checks everything first and only then moves it to its name (its SHA-256) and records it, in
one audited transaction: a refused image leaves neither a row nor a file.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

from cryptography import x509
from sqlmodel import Session, select

from api.core.audit import Actor, audited, record_failure, run_in_session
from api.core.context import Context
from api.core.refusal import Conflict, NotFound, Refusal
from pki import firmware as signing
from pki.serials import serial_hex
from policies.keys import check_public_key
from policies.model import Decision
from policies.names import control_character
from storage.certificates import CertStatus, IssuedCertificate
from storage.firmware import (
    CHARGECA,
    MANUFACTURER,
    FirmwareCertificateRevocation,
    FirmwareImage,
    FirmwareRoot,
)
from storage.types import utcnow

CHUNK = 1 << 16
T = TypeVar("T")
ROOTS_ROUTE = "POST /api/v1/firmware/roots"


def firmware_dir(ctx: Context) -> Path:
    directory = ctx.settings.data_dir / "firmware"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory


def image_path(ctx: Context, image: FirmwareImage) -> Path:
    return firmware_dir(ctx) / f"{image.sha256}.bin"


def refuse(decision: Decision) -> None:
    if not decision:
        raise Refusal(decision.rule, decision.reason)


def _certificate(text: str, what: str, rule: str) -> x509.Certificate:
    loaded = signing.load_certificate(text, what, rule)
    if isinstance(loaded, Decision):
        raise Refusal(loaded.rule, loaded.reason)
    return loaded


# --- staging: a file streamed in, hashed, within the limit ---------------------------------------

@dataclass
class Staged:
    """An image written to a staging file, not registered yet."""

    path: Path
    sha256: str = ""
    size: int = 0

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


class Stager:
    """Write an image chunk by chunk, hashing it; past ``limit`` bytes it refuses and deletes."""

    def __init__(self, ctx: Context) -> None:
        self.limit = ctx.policy.firmware.max_image_mb * 1024 * 1024
        self.staged = Staged(firmware_dir(ctx) / f".staging-{uuid.uuid4().hex}")
        self._hash = hashlib.sha256()
        self._file = open(self.staged.path, "xb")  # noqa: SIM115 - closed in finish/abort

    def write(self, chunk: bytes) -> None:
        self.staged.size += len(chunk)
        if self.staged.size > self.limit:
            self.abort()
            raise Refusal("firmware.image.size", f"the image is larger than {self.limit} bytes "
                                                 "([firmware] max_image_mb)")
        self._hash.update(chunk)
        self._file.write(chunk)

    def finish(self) -> Staged:
        self._file.close()
        if self.staged.size == 0:
            self.staged.discard()
            raise Refusal("firmware.image.empty", "the image is empty")
        self.staged.sha256 = self._hash.hexdigest()
        return self.staged

    def abort(self) -> None:
        self._file.close()
        self.staged.discard()


def stage_file(ctx: Context, source: BinaryIO) -> Staged:
    stager = Stager(ctx)
    try:
        while chunk := source.read(CHUNK):
            stager.write(chunk)
    except Refusal:
        raise
    except BaseException:
        stager.abort()
        raise
    return stager.finish()


# --- manufacturer roots ------------------------------------------------------------------------

def add_root(ctx: Context, actor: Actor, certificate_pem: str) -> FirmwareRoot:
    """A manufacturer root firmware may chain to; adding one already known returns it."""
    with audited(ctx, actor, "firmware.root.add", "firmware") as (session, detail):
        certificate = _certificate(certificate_pem, "the manufacturer root", "firmware.root.format")
        refuse(signing.is_self_signed_ca(certificate))
        detail.update(subject=certificate.subject.rfc4514_string(), sha256=signing.sha256_hex(certificate))
        return _keep_root(session, certificate, actor.name, None)


def _once(session: Session, table: type[T], sha: str, make: Callable[[], T]) -> T:
    """The row of ``table`` for the certificate whose SHA-256 is ``sha``; made when there is none."""
    row = session.exec(select(table).where(table.sha256 == sha)).first()
    if row is None:
        row = make()
        session.add(row)
        session.flush()
    return row


def _keep_root(session: Session, certificate: x509.Certificate, added_by: str,
               authority_id: str | None) -> FirmwareRoot:
    sha = signing.sha256_hex(certificate)
    return _once(session, FirmwareRoot, sha, lambda: FirmwareRoot(
        sha256=sha, subject=certificate.subject.rfc4514_string()[:300], certificate_pem=signing.pem(certificate),
        authority_id=authority_id, not_after=certificate.not_valid_after_utc, added_by=added_by))


def roots(session: Session) -> list[FirmwareRoot]:
    return list(session.exec(select(FirmwareRoot).order_by(FirmwareRoot.id)))


def root_certificate(row: FirmwareRoot) -> x509.Certificate:
    return x509.load_pem_x509_certificate(row.certificate_pem.encode())


def issuing_root(session: Session, certificate: x509.Certificate) -> FirmwareRoot | None:
    """The registered manufacturer root that signed ``certificate``, if any."""
    for row in roots(session):
        if signing.issued_by(certificate, root_certificate(row)):
            return row
    return None


# --- revocation of signing certificates --------------------------------------------------------

def is_revoked(session: Session, certificate: x509.Certificate) -> bool:
    """Revoked by an officer (a manufacturer's certificate), or in our CA's records (ours)."""
    sha = signing.sha256_hex(certificate)
    if session.exec(select(FirmwareCertificateRevocation.id)
                    .where(FirmwareCertificateRevocation.sha256 == sha)).first() is not None:
        return True
    ours = session.exec(select(IssuedCertificate).where(
        IssuedCertificate.kind == signing.FIRMWARE_KIND,
        IssuedCertificate.serial_hex == serial_hex(certificate.serial_number))).first()
    return ours is not None and ours.status == CertStatus.REVOKED


def revoke_certificate(ctx: Context, actor: Actor, certificate_pem: str, reason: str) -> FirmwareCertificateRevocation:
    with audited(ctx, actor, "firmware.certificate.revoke", "firmware") as (session, detail):
        certificate = _certificate(certificate_pem, "the signing certificate", "firmware.certificate.format")
        sha = signing.sha256_hex(certificate)
        detail.update(subject=certificate.subject.rfc4514_string(), sha256=sha)
        return _once(session, FirmwareCertificateRevocation, sha, lambda: FirmwareCertificateRevocation(
            sha256=sha, subject=certificate.subject.rfc4514_string()[:300],
            reason=reason.strip()[:500] or "unspecified", revoked_by=actor.name))


# --- images ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImageIn:
    name: str
    version: str
    signature: str | None = None            # Base64; None with sign=True
    signing_certificate: str | None = None  # PEM; None with sign=True
    sign: bool = False                      # ChargeCA signs it with its own firmware-signing key


def check_names(image: ImageIn) -> None:
    """Before the bytes are read, so a bad name costs no upload; again when it is registered.
    Names are printed in the CLI's tab-separated listing and shown to officers: a control
    character there splits a row or drives their terminal."""
    if not 0 < len(image.name.strip()) <= 200 or control_character(image.name):
        raise Refusal("firmware.image.name", "name must have 1 to 200 characters, none of them control characters")
    if not 0 < len(image.version.strip()) <= 50 or control_character(image.version):
        raise Refusal("firmware.image.version", "version must have 1 to 50 characters, none of them control "
                                                "characters (BootNotification's firmwareVersion is at most 50)")


def refused_upload(ctx: Context, actor: Actor, image: ImageIn, exc: Refusal) -> None:
    """Audit an upload refused before ``register_image`` (a name, the size, an empty body, a
    header), as ``register_image`` audits the refusals it makes."""
    record_failure(ctx, actor, "firmware.image.add", "firmware", {
        "name": image.name[:200], "version": image.version[:50],
        "signed_by": CHARGECA if image.sign else MANUFACTURER}, exc)


def register_image(ctx: Context, actor: Actor, staged: Staged, image: ImageIn) -> FirmwareImage:
    """Check and record a staged image; the staged file is moved into place or deleted, never left."""
    try:
        with audited(ctx, actor, "firmware.image.add", "firmware") as (session, detail):
            detail.update(name=image.name[:200], version=image.version[:50], sha256=staged.sha256, size=staged.size,
                          signed_by=CHARGECA if image.sign else MANUFACTURER)
            check_names(image)
            digest = bytes.fromhex(staged.sha256)
            if image.sign:
                if image.signature or image.signing_certificate:
                    raise Refusal("firmware.image.sign", "give either a signature and its certificate, or sign, "
                                                         "not both")
                signer, made = signing.ensure_signer(session, ctx.keystore, policy=ctx.policy, urls=ctx.urls)
                root = _keep_root(session, signer.root.certificate, actor.name, signer.root.id)
                detail["signer_created"] = made
                certificate, signature = signer.certificate, signing.sign_digest(ctx.keystore, signer, digest)
            else:
                if not image.signature or not image.signing_certificate:
                    raise Refusal("firmware.image.unsigned",
                                  "a manufacturer's image needs its signature (Base64) and signing certificate "
                                  "(PEM); or have ChargeCA sign it (sign)")
                certificate = _certificate(image.signing_certificate, "the signing certificate",
                                           "firmware.certificate.format")
                signature = image.signature.strip()
                key = check_public_key(certificate.public_key(), ctx.policy.keys)
                if not key:
                    raise Refusal(f"firmware.{key.rule}", f"the signing certificate's key: {key.reason}")
                root = issuing_root(session, certificate)
                if root is None:
                    raise Refusal("firmware.root.unknown",
                                  f"the signing certificate's issuer {certificate.issuer.rfc4514_string()} is not a "
                                  f"manufacturer root ChargeCA knows; add that root first ({ROOTS_ROUTE})")
            refuse(signing.check_signing_certificate(certificate, root_certificate(root), utcnow(),
                                                     is_revoked(session, certificate)))
            refuse(signing.verify_digest(certificate, digest, signature))
            row = FirmwareImage(name=image.name.strip(), version=image.version.strip(), sha256=staged.sha256,
                                size=staged.size, signature=signature, signing_certificate_pem=signing.pem(certificate),
                                signing_certificate_sha256=signing.sha256_hex(certificate), root_id=root.id,
                                signed_by=CHARGECA if image.sign else MANUFACTURER, uploaded_by=actor.name)
            session.add(row)
            session.flush()
            detail["image_id"] = row.id
            os.replace(staged.path, image_path(ctx, row))
            return row
    finally:
        staged.discard()


def image(session: Session, image_id: int) -> FirmwareImage:
    row = session.get(FirmwareImage, image_id)
    if row is None:
        raise NotFound("firmware.image.unknown", f"no firmware image {image_id}")
    return row


def images(session: Session) -> list[FirmwareImage]:
    return list(session.exec(select(FirmwareImage).order_by(FirmwareImage.id.desc())))


def by_signature(session: Session, certificate_pem: str, signature: str) -> FirmwareImage | None:
    """The registered image an UpdateFirmware payload's certificate and signature name."""
    loaded = signing.load_certificate(certificate_pem, "firmware.signingCertificate", "call.firmware.certificate")
    if isinstance(loaded, Decision):
        raise Refusal(loaded.rule, loaded.reason)
    return session.exec(select(FirmwareImage).where(
        FirmwareImage.signing_certificate_sha256 == signing.sha256_hex(loaded),
        FirmwareImage.signature == signature.strip()).order_by(FirmwareImage.id.desc())).first()


def signer_view(ctx: Context, actor: Actor | None = None) -> signing.FirmwareSigner:
    """Our firmware signer; with an ``actor`` (an officer), made on first use and audited."""
    if actor is None:
        signer = run_in_session(ctx, signing.current_signer)
        if signer is None:
            raise NotFound("firmware.signer.none", "ChargeCA has no firmware-signing key yet; an officer creates it "
                                                   "(POST /api/v1/firmware/signer or `chargeca firmware signer`)")
        return signer
    with audited(ctx, actor, "firmware.signer.ensure", "firmware") as (session, detail):
        signer, made = signing.ensure_signer(session, ctx.keystore, policy=ctx.policy, urls=ctx.urls)
        _keep_root(session, signer.root.certificate, actor.name, signer.root.id)
        detail.update(created=made, certificate_serial=signer.record.serial_hex, root=signer.root.id)
        return signer


# --- the image's digest as stored now ----------------------------------------------------------

_digests: dict[tuple[str, int, int], str] = {}


def stored_digest(ctx: Context, row: FirmwareImage) -> str:
    """SHA-256 of the file on disk now (hashed again when its size or mtime changed): the
    signature is checked over what will be served, not over what was uploaded once."""
    path = image_path(ctx, row)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise Conflict("firmware.image.missing", f"the file of firmware image {row.id} is missing ({path.name})") \
            from None
    key = (str(path), info.st_size, info.st_mtime_ns)
    cached = _digests.get(key)
    if cached is None:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        cached = _digests[key] = digest.hexdigest()
    return cached

