"""The wss listener's certificates and trust anchors, taken from the database, reloadable live.

A reload builds a fresh ``SSLContext`` from the active server certificates and the station CAs.
The listening socket keeps the context it was created with, whose SNI callback (called for
every ClientHello, with or without SNI) moves each new handshake onto the newest context:
OpenSSL then takes the certificates and the client-certificate trust store from it. Connections
already open keep the session they negotiated, so rotating server certificates drops nobody.

Version, suites and options of a handshake stay those of the listening context (OpenSSL copies
them into each connection before the callback runs): a changed [tls] policy needs a restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlmodel import Session, select

from api.core.context import Context
from pki.authorities import authority_by_id, trusted_authorities
from policies.tls import server_context
from storage.certificates import CaRole, CertificateAuthority, CertKind, CertStatus, IssuedCertificate
from storage.db import session_scope

log = logging.getLogger("chargeca.ocpp.tls")


class TlsMaterialError(RuntimeError):
    """The database does not hold what the wss listener needs; the message says what to run."""


@dataclass(frozen=True)
class ServerCertificate:
    family: str          # "ec" or "rsa"
    serial_hex: str
    chain_file: Path     # leaf, then the server sub-CA
    key_label: str


@dataclass(frozen=True)
class Material:
    """One generation of TLS material: what a context was built from."""

    context: ssl.SSLContext
    server_certificates: tuple[ServerCertificate, ...]
    # Station CAs by CA id: the only anchors a profile-3 client chain may end at.
    station_anchors: Mapping[str, x509.Certificate]
    version: tuple[str, ...]   # database rows the material came from, to notice changes cheaply


def _family(certificate: x509.Certificate) -> str | None:
    key = certificate.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ec"
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa"
    return None


def _active_server_records(session: Session) -> list[IssuedCertificate]:
    return list(session.exec(
        select(IssuedCertificate)
        .where(IssuedCertificate.kind == CertKind.SERVER, IssuedCertificate.status == CertStatus.ACTIVE,
               IssuedCertificate.key_label.is_not(None))
        .order_by(IssuedCertificate.id.desc())))


def _version(session: Session) -> tuple[str, ...]:
    server_ids = session.exec(select(IssuedCertificate.id).where(
        IssuedCertificate.kind == CertKind.SERVER, IssuedCertificate.status == CertStatus.ACTIVE)).all()
    # Retiring a generation must drop its CAs from the trust anchors, so retired_at counts too.
    cas = session.exec(select(CertificateAuthority.id, CertificateAuthority.retired_at)
                       .where(CertificateAuthority.role.in_([CaRole.STATION, CaRole.ROOT]))).all()
    return (tuple(f"server:{i}" for i in sorted(server_ids))
            + tuple(f"ca:{i}:{retired is None}" for i, retired in sorted(cas, key=lambda row: row[0])))


def _write_atomically(path: Path, data: str) -> None:
    # Named per process: nodes sharing a data directory (workers, cluster tests) write the same
    # files at start, and one's rename must not take the other's half-written file away.
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.write_text(data, encoding="ascii")
    os.replace(temporary, path)


class TlsMaterial:
    """Builds the wss context from the database; ``reload()`` after rotating certificates."""

    def __init__(self, ctx: Context, directory: Path | None = None) -> None:
        self._ctx = ctx
        self._directory = directory or ctx.settings.data_dir / "tls"
        self._lock = threading.Lock()
        self._material: Material | None = None
        self._listening: ssl.SSLContext | None = None

    @property
    def material(self) -> Material:
        if self._material is None:
            self.reload()
        assert self._material is not None
        return self._material

    def listening_context(self) -> ssl.SSLContext:
        """The context to create the listening socket with (built once)."""
        if self._listening is None:
            self._listening = self.material.context
            self._listening.sni_callback = self._use_newest
        return self._listening

    def _use_newest(self, ssl_object: ssl.SSLObject, _server_name: str | None,
                    context: ssl.SSLContext) -> None:
        newest = self._material.context if self._material else None
        if newest is not None and newest is not context:
            ssl_object.context = newest

    def station_anchors(self) -> Mapping[str, x509.Certificate]:
        return self.material.station_anchors

    def reload(self) -> Material:
        """Build a new generation from the database; new handshakes use it at once.

        Blocking (database, key decryption): from the event loop call ``reload_async``.
        """
        with self._lock:
            material = self._build()
            previous = self._material
            self._material = material
            self._remove_stale_files(material)
        if previous is None or previous.version != material.version:
            log.info("wss TLS material loaded: server certificates %s",
                     ", ".join(f"{c.family}:{c.serial_hex}" for c in material.server_certificates))
        return material

    async def reload_async(self) -> Material:
        return await asyncio.to_thread(self.reload)

    def changed(self) -> bool:
        """Whether the database now holds other server certificates or CAs than those loaded."""
        with session_scope(self._ctx.engine) as session:
            return self._material is None or _version(session) != self._material.version

    async def refresh_if_changed(self) -> bool:
        """For a periodic watcher: pick up a rotation done by another process (CLI, other node)."""
        if await asyncio.to_thread(self.changed):
            await self.reload_async()
            return True
        return False

    def _build(self) -> Material:
        self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with session_scope(self._ctx.engine) as session:
            version = _version(session)
            servers = self._server_certificates(session)
            # Every unretired generation: during a root rollover stations of both get in.
            stations = trusted_authorities(session, CaRole.STATION)
            roots = trusted_authorities(session, CaRole.ROOT)
        anchors = MappingProxyType({a.id: a.certificate for a in stations})
        if not anchors:
            raise TlsMaterialError("no station CA: run `chargeca init` first")
        # OpenSSL builds the client chain up to a self-signed root, so it gets the roots too;
        # admission then insists that the chain passes through a station CA.
        client_ca_pem = "".join(a.record.certificate_pem for a in (*stations, *roots))
        files = [(c.chain_file, *self._ctx.keystore.file_for_tls(c.key_label)) for c in servers]
        context = server_context(self._ctx.policy.tls, files, client_ca_pem)
        return Material(context, tuple(servers), anchors, version)

    def _server_certificates(self, session: Session) -> list[ServerCertificate]:
        newest: dict[str, ServerCertificate] = {}
        for record in _active_server_records(session):
            certificate = x509.load_pem_x509_certificate(record.certificate_pem.encode())
            family = _family(certificate)
            if family is None or family in newest:
                continue
            issuer = authority_by_id(session, record.issuer_id)
            if issuer is None:
                raise TlsMaterialError(f"server certificate {record.serial_hex}: issuer {record.issuer_id} missing")
            chain_file = self._directory / f"server-{family}-{record.serial_hex}.chain.pem"
            _write_atomically(chain_file, record.certificate_pem + issuer.record.certificate_pem)
            newest[family] = ServerCertificate(family, record.serial_hex, chain_file, record.key_label)
        missing = {"ec", "rsa"} - newest.keys()
        if missing:
            # A00.FR.318: ECDSA suites need an EC certificate, TLS_RSA suites an RSA one.
            raise TlsMaterialError(
                f"no active {' or '.join(sorted(missing)).upper()} server certificate; "
                "renew the server certificates (both key families are needed)")
        return [newest["ec"], newest["rsa"]]

    def _remove_stale_files(self, material: Material) -> None:
        keep = {c.chain_file.name for c in material.server_certificates}
        for path in self._directory.glob("server-*.chain.pem"):
            if path.name not in keep:
                path.unlink(missing_ok=True)
