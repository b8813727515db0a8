"""STOP-GAP firmware download server, until the file-transfer service (HTTPS + FTP with one-time
expiring read-only credentials, built beside this block) is merged: then api/csms/firmware/
location.py uses its download grants and this module goes.

Serves one file per grant: HTTPS on the OCPP listener's TLS context (the station trusts the CSMS
root) at ``/firmware/<token>``, and FTP with a user and password made for the grant, read only,
its home a directory holding a hard link to the image. A grant serves one download and expires.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import ssl
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import warnings

from storage.types import utcnow

# pyftpdlib still rides on asyncore/asynchat, deprecated in Python 3.11 (it works there): its
# import warning is not ours to fix, and every warning is an error in the tests.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from pyftpdlib.authorizers import AuthenticationFailed, DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

log = logging.getLogger("chargeca.firmware.downloads")
_CHUNK = 1 << 16


@dataclass
class _Grant:
    path: Path
    expires_at: datetime
    used: bool = False


class _OneTimeUsers(DummyAuthorizer):
    def __init__(self, downloads: StopgapDownloads) -> None:
        super().__init__()
        self._downloads = downloads

    def validate_authentication(self, username: str, password: str, handler) -> None:
        grant = self._downloads.grants.get(username)
        if grant is None or grant.used or grant.expires_at <= utcnow() or not secrets.compare_digest(
                password, self._downloads.ftp_passwords.get(username, "")):
            raise AuthenticationFailed("unknown, used or expired credentials")
        super().validate_authentication(username, password, handler)


class StopgapDownloads:
    """HTTPS and FTP servers of one-time firmware downloads (see the module docstring)."""

    def __init__(self, directory: Path, host: str, public_host: str, tls_context: ssl.SSLContext | None) -> None:
        self._directory = directory
        self._host, self._public_host = host, public_host
        self._tls = tls_context
        self.grants: dict[str, _Grant] = {}
        self.ftp_passwords: dict[str, str] = {}
        self._https: asyncio.Server | None = None
        self._ftp: FTPServer | None = None
        self._thread: threading.Thread | None = None
        self.https_port = self.ftp_port = 0

    async def start(self) -> StopgapDownloads:
        shutil.rmtree(self._directory, ignore_errors=True)
        self._directory.mkdir(mode=0o700, parents=True)
        if self._tls is not None:
            self._https = await asyncio.start_server(self._serve, self._host, 0, ssl=self._tls)
            self.https_port = self._https.sockets[0].getsockname()[1]
        downloads = self

        class Handler(FTPHandler):
            authorizer = _OneTimeUsers(downloads)
            banner = "ChargeCA firmware"

            def on_file_sent(self, file: str) -> None:
                downloads._used(self.username)

        self._ftp = FTPServer((self._host, 0), Handler)
        self.ftp_port = self._ftp.address[1]
        self._thread = threading.Thread(target=self._ftp.serve_forever, kwargs={"timeout": 0.2},
                                        name="stopgap-ftp", daemon=True)
        self._thread.start()
        return self

    async def aclose(self) -> None:
        if self._https is not None:
            self._https.close()
            await self._https.wait_closed()
        if self._ftp is not None:
            self._ftp.close_all()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)
        shutil.rmtree(self._directory, ignore_errors=True)

    def grant(self, path: Path, *, protocol: str, expires_at: datetime, name: str) -> str:
        token = secrets.token_urlsafe(24)
        if protocol == "https":
            if self._https is None:
                raise RuntimeError("no HTTPS download server (no TLS material)")
            self.grants[token] = _Grant(path, expires_at)
            return f"https://{self._public_host}:{self.https_port}/firmware/{token}"
        user = f"fw{secrets.token_hex(8)}"
        home = self._directory / user
        home.mkdir(mode=0o700)
        os.link(path, home / name)
        password = secrets.token_urlsafe(18)
        self.grants[user] = _Grant(home / name, expires_at)
        self.ftp_passwords[user] = password
        self._ftp.handler.authorizer.add_user(user, password, str(home), perm="elr")
        return f"ftp://{user}:{password}@{self._public_host}:{self.ftp_port}/{name}"

    def _used(self, user: str) -> None:
        grant = self.grants.get(user)
        if grant is not None:
            grant.used = True
        self.ftp_passwords.pop(user, None)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = (await asyncio.wait_for(reader.readline(), 10)).decode("latin-1").split()
            while (await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b"\n", b""):
                pass
            token = request[1].removeprefix("/firmware/") if len(request) >= 2 and request[0] == "GET" else ""
            grant = self.grants.get(token)
            if grant is None or grant.used or grant.expires_at <= utcnow():
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            grant.used = True
            size = grant.path.stat().st_size
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}\r\n"
                         "Connection: close\r\n\r\n".encode())
            with open(grant.path, "rb") as handle:
                while chunk := await asyncio.to_thread(handle.read, _CHUNK):
                    writer.write(chunk)
                    await writer.drain()
        except (OSError, TimeoutError, ssl.SSLError, UnicodeDecodeError) as exc:
            log.info("firmware download ended: %s", exc)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, ssl.SSLError):
                pass
