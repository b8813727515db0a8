"""The running file service: the HTTPS and FTP servers ``chargeca serve`` starts, and where they are.

``FileServiceConfig.from_settings`` is what ``chargeca serve`` runs (ports and addresses from
Settings, which protocols from the [file_transfer] policy); tests give their own (port 0, loopback).
``FileService.endpoints`` is what the grant functions need to write URLs: the public host name and
the ports actually bound.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from OpenSSL import SSL

from api.core.context import Context
from api.core.settings import Settings
from api.csms.file_transfer.ftp import FtpFileServer, ftps_context
from api.csms.file_transfer.grants import Endpoints
from api.csms.file_transfer.https import HttpsFileServer
from api.csms.file_transfer.limits import ConnectionLimits
from api.csms.file_transfer.pace import pace_of
from api.csms.file_transfer.store import FileStore
from api.ocpp.transport.tls_material import TlsMaterial
from policies.model import FileTransferPolicy

if TYPE_CHECKING:
    from api.csms.file_transfer.process import FileServiceProcess


@dataclass(frozen=True)
class FileServiceConfig:
    public_name: str
    https_host: str
    https_port: int | None          # None: no HTTPS server
    ftp_host: str
    ftp_port: int | None            # None: no FTP server
    ftp_passive_ports: range | None = None
    ftp_masquerade_address: str | None = None
    limits: ConnectionLimits = ConnectionLimits()
    max_megabytes_per_second: int = 0   # both servers together; 0: no cap
    # In a niced child process (api/csms/file_transfer/process.py), as `chargeca serve` runs it
    # unless told otherwise (Settings.files_process); else on threads of this process.
    own_process: bool = False
    # SO_REUSEPORT on both servers' ports: the workers of one machine share them (api/workers.py).
    reuse_port: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, policy: FileTransferPolicy) -> FileServiceConfig:
        return cls(public_name=settings.files_public_name or settings.fqdn,
                   https_host=settings.files_host or settings.ocpp_host,
                   https_port=settings.files_https_port if policy.https_enabled else None,
                   ftp_host=settings.ftp_host or settings.ocpp_host,
                   ftp_port=settings.ftp_port if policy.ftp_enabled else None,
                   ftp_passive_ports=parse_port_range(settings.ftp_passive_ports),
                   ftp_masquerade_address=settings.ftp_masquerade_address,
                   limits=ConnectionLimits(max_connections=policy.max_connections,
                                           per_source=policy.max_connections_per_source,
                                           idle_timeout=float(policy.idle_timeout_seconds),
                                           head_timeout=float(policy.login_timeout_seconds)),
                   max_megabytes_per_second=policy.max_megabytes_per_second,
                   own_process=settings.files_process == "own", reuse_port=settings.shared_ports)


def parse_port_range(text: str) -> range | None:
    """"60000-60099" → range(60000, 60100); "" → None (any port)."""
    if not text.strip():
        return None
    first, _, last = text.partition("-")
    start, end = int(first), int(last or first)
    if not 1024 <= start <= end <= 65535:
        raise ValueError(f"passive ports {text!r}: first-last within 1024-65535")
    return range(start, end + 1)


class FileService:
    """Both servers, started together; ``endpoints`` for the grants. Blocking start and stop:
    from the event loop use ``start_async``/``stop_async``."""

    def __init__(self, ctx: Context, config: FileServiceConfig, tls: TlsMaterial | None) -> None:
        self.config = config
        self.store = FileStore(ctx.settings.data_dir)
        self.https: HttpsFileServer | None = None
        self.ftp: FtpFileServer | None = None
        pace = pace_of(config.max_megabytes_per_second)
        if config.https_port is not None:
            if tls is None:
                raise ValueError("the HTTPS file server needs the wss listener's TLS material")
            self.https = HttpsFileServer(ctx.engine, self.store, tls.listening_context(), host=config.https_host,
                                         port=config.https_port, limits=config.limits, reuse_port=config.reuse_port,
                                         pace=pace)
        if config.ftp_port is not None:
            self.ftp = FtpFileServer(ctx.engine, self.store, host=config.ftp_host, port=config.ftp_port,
                                     passive_ports=config.ftp_passive_ports,
                                     masquerade_address=config.ftp_masquerade_address,
                                     limits=config.limits, tls=ftps(ctx, tls) if tls is not None else None,
                                     reuse_port=config.reuse_port, pace=pace)
        self._ctx = ctx
        self.endpoints = Endpoints(config.public_name, self.https.port if self.https else None,
                                   self.ftp.port if self.ftp else None)

    def start(self) -> FileService:
        for server in (self.https, self.ftp):
            if server is not None:
                server.start()
        return self

    def stop(self) -> None:
        for server in (self.ftp, self.https):
            if server is not None:
                server.stop()

    async def stop_async(self) -> None:
        await asyncio.to_thread(self.stop)

    def reload_tls(self, tls: TlsMaterial) -> None:
        """New FTPS sessions get ``tls``'s server certificates (rotated ones). HTTPS needs nothing:
        its listening context hands each handshake the newest material of its own ``TlsMaterial``."""
        if self.ftp is not None:
            self.ftp.use_tls(ftps(self._ctx, tls))


def ftps(ctx: Context, tls: TlsMaterial) -> SSL.Context:
    """The FTPS context of the wss listener's current server certificates."""
    certificates = [(c.chain_file, *ctx.keystore.file_for_tls(c.key_label)) for c in tls.material.server_certificates]
    return ftps_context(certificates, ctx.policy.tls)


async def start_file_service(ctx: Context, config: FileServiceConfig,
                             tls: TlsMaterial | None) -> FileService | FileServiceProcess:
    """Bind and start both servers off the event loop (binding and the FTP loop's set-up block),
    in a process of their own when the configuration says so (``tls`` is then the child's own)."""
    if config.own_process:
        from api.csms.file_transfer.process import FileServiceProcess
        return await asyncio.to_thread(lambda: FileServiceProcess(ctx, config).start())
    return await asyncio.to_thread(lambda: FileService(ctx, config, tls).start())
