"""The station's side of file transfer: download a file (firmware) and upload one (logs) over
HTTPS and FTP, to whatever URL the CSMS sent. Blocking functions (a station's transfer task
runs beside its OCPP connection); ``*_async`` wrappers run them on a thread.

HTTPS trusts only the CSMS root the station was given (``ca_file``) and checks the host name
(``server_hostname`` when the URL's host is an address the certificate does not name). The HTTP
client is a small one of our own, not a library's: a station sends ``Expect: 100-continue`` and
streams its file, chunked or with a length, raw or as multipart/form-data, and this one must show
exactly what goes over the wire. FTP: passive mode, binary, explicit FTPS (AUTH TLS, PROT P) when
the station supports it (``ftps=True``), ``ftp://user:password@host:port/path``.
An upload to a URL ending in "/" stores the station's own file name there (HTTPS: appended to the
path, unless the name travels in a multipart part).
"""

from __future__ import annotations

import asyncio
import ftplib
import hashlib
import io
import select
import socket
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, unquote, urlsplit

_CHUNK = 256 * 1024
# How much an upload hands the socket at once, as an embedded station's stack would (a TLS record's
# worth). On loopback the receiving side's TCP work runs in the sender's system call: a 256 KiB
# write held its core in the kernel long enough to delay the other simulated stations sharing it
# (scripts/bench_uploads.py, docs/benchmarks.md 2026-12-06).
WRITE_SIZE = 16 * 1024


class TransferFailed(Exception):
    """The server refused or the transfer broke off: ``status`` is the HTTP status or FTP reply
    code when one came, else None."""

    def __init__(self, status: int | None, detail: str) -> None:
        super().__init__(f"{status}: {detail}" if status else detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Transferred:
    size: int
    sha256: str
    status: int


def _source(data: bytes | Path) -> tuple[BinaryIO, int]:
    if isinstance(data, Path):
        return open(data, "rb"), data.stat().st_size
    return io.BytesIO(data), len(data)


def _sha256(data: bytes | Path) -> str:
    digest = hashlib.sha256()
    source, _ = _source(data)
    with source:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- HTTPS ------------------------------------------------------------------------------------

class _Http:
    def __init__(self, url: str, ca_file: str | Path | None, server_hostname: str | None, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https":
            raise TransferFailed(None, f"not an https URL: {parts.scheme}")
        self.host = parts.hostname or ""
        self.port = parts.port or 443
        self.target = parts.path + (f"?{parts.query}" if parts.query else "")
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        raw = socket.create_connection((self.host, self.port), timeout=timeout)
        try:
            self.sock = context.wrap_socket(raw, server_hostname=server_hostname or self.host)
        except (OSError, ssl.SSLError) as exc:
            raw.close()
            raise TransferFailed(None, f"TLS: {exc}") from exc
        self.reader = self.sock.makefile("rb")

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def head(self, method: str, headers: dict[str, str]) -> None:
        lines = [f"{method} {self.target} HTTP/1.1", f"Host: {self.host}:{self.port}",
                 *(f"{name}: {value}" for name, value in headers.items()), "", ""]
        self.sock.sendall("\r\n".join(lines).encode())

    def response_head(self) -> tuple[int, dict[str, str]]:
        status_line = self.reader.readline(1024)
        if not status_line:
            raise TransferFailed(None, "connection closed without an answer")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := self.reader.readline(8192)) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers

    def body(self, headers: dict[str, str]) -> Iterator[bytes]:
        remaining = int(headers.get("content-length", "0"))
        while remaining:
            chunk = self.reader.read(min(_CHUNK, remaining))
            if not chunk:
                raise TransferFailed(None, "body ended early")
            remaining -= len(chunk)
            yield chunk

    def readable(self, timeout: float) -> bool:
        return bool(select.select([self.sock], [], [], timeout)[0])


def https_download(url: str, destination: Path | None = None, *, ca_file: str | Path | None,
                   server_hostname: str | None = None, timeout: float = 30) -> tuple[Transferred, bytes]:
    """GET the file; (what arrived, its bytes when no ``destination`` is given, else b"")."""
    http = _Http(url, ca_file, server_hostname, timeout)
    try:
        http.head("GET", {"Connection": "close"})
        status, headers = http.response_head()
        digest, size = hashlib.sha256(), 0
        kept = bytearray()
        sink = open(destination, "wb") if destination else None  # noqa: SIM115
        try:
            for chunk in http.body(headers):
                digest.update(chunk)
                size += len(chunk)
                if sink:
                    sink.write(chunk)
                elif status == 200:
                    kept += chunk
        finally:
            if sink:
                sink.close()
        if status != 200:
            raise TransferFailed(status, "download refused")
        return Transferred(size, digest.hexdigest(), status), bytes(kept)
    finally:
        http.close()


def https_upload(url: str, data: bytes | Path, *, ca_file: str | Path | None, server_hostname: str | None = None,
                 method: str = "PUT", chunked: bool = False, multipart: bool = False, file_name: str = "log.txt",
                 expect_continue: bool = True, timeout: float = 30, write_size: int = WRITE_SIZE) -> Transferred:
    """PUT or POST the file (raw, or as the one file part of multipart/form-data); the server's
    answer must be 2xx. ``expect_continue``: send the head first and the body only after 100;
    ``write_size``: the most handed to the socket at once."""
    source, size = _source(data)
    boundary = uuid.uuid4().hex
    prefix = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
              f"Content-Type: application/octet-stream\r\n\r\n").encode() if multipart else b""
    suffix = f"\r\n--{boundary}--\r\n".encode() if multipart else b""
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}" if multipart
               else "application/octet-stream", "Connection": "close"}
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
    else:
        headers["Content-Length"] = str(len(prefix) + size + len(suffix))
    if expect_continue:
        headers["Expect"] = "100-continue"
    http = _Http(url, ca_file, server_hostname, timeout)
    try:
        with source:
            http.head(method, headers)
            if expect_continue and http.readable(timeout):
                status, answer = http.response_head()
                if status != 100:
                    return _answered(http, status, answer, size, data)
            try:
                for piece in _pieces(prefix, source, suffix, write_size):
                    http.sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                if chunked:
                    http.sock.sendall(b"0\r\n\r\n")
            except OSError:
                pass   # the server stopped reading: its answer (413) may still be there
            try:
                status, answer = http.response_head()
            except (OSError, ValueError, IndexError) as exc:
                raise TransferFailed(None, f"connection closed: {exc}") from exc
            return _answered(http, status, answer, size, data)
    finally:
        http.close()


def _pieces(prefix: bytes, source: BinaryIO, suffix: bytes, size: int) -> Iterator[bytes]:
    if prefix:
        yield prefix
    while chunk := source.read(size):
        yield chunk
    if suffix:
        yield suffix


def _answered(http: _Http, status: int, headers: dict[str, str], size: int, data: bytes | Path) -> Transferred:
    text = b"".join(http.body(headers)).decode("utf-8", "replace") if "content-length" in headers else ""
    if not 200 <= status < 300:
        raise TransferFailed(status, text or "refused")
    return Transferred(size, _sha256(data), status)


# --- FTP --------------------------------------------------------------------------------------

def _ftp(url: str, timeout: float, tls: _Tls | None = None) -> tuple[ftplib.FTP, str]:
    """Logged in, passive; with ``tls`` explicit FTPS (AUTH TLS, then PROT P for the data)."""
    parts = urlsplit(url)
    if parts.scheme != "ftp":
        raise TransferFailed(None, f"not an ftp URL: {parts.scheme}")
    ftp = ftplib.FTP_TLS(context=tls.context(), timeout=timeout) if tls else ftplib.FTP(timeout=timeout)
    try:
        ftp.connect(parts.hostname or "", parts.port or 21)
        if isinstance(ftp, ftplib.FTP_TLS) and tls is not None:
            # ftplib checks the certificate against self.host; data connections go to the PASV peer.
            ftp.host = tls.server_hostname or ftp.host
            ftp.auth()
        ftp.login(unquote(parts.username or "anonymous"), unquote(parts.password or ""))
        if isinstance(ftp, ftplib.FTP_TLS):
            ftp.prot_p()
    except (*ftplib.all_errors, ssl.SSLError) as exc:
        ftp.close()
        raise TransferFailed(_code(exc), str(exc)) from exc
    ftp.set_pasv(True)
    return ftp, unquote(parts.path)


@dataclass(frozen=True)
class _Tls:
    ca_file: str | Path | None
    server_hostname: str | None

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)


def _code(exc: BaseException) -> int | None:
    text = str(exc)
    return int(text[:3]) if text[:3].isdigit() else None


def ftp_download(url: str, destination: Path | None = None, *, timeout: float = 30, ftps: bool = False,
                 ca_file: str | Path | None = None, server_hostname: str | None = None) -> tuple[Transferred, bytes]:
    ftp, path = _ftp(url, timeout, _Tls(ca_file, server_hostname) if ftps else None)
    digest, kept = hashlib.sha256(), bytearray()
    size = 0
    sink = open(destination, "wb") if destination else None  # noqa: SIM115

    def take(chunk: bytes) -> None:
        nonlocal size
        digest.update(chunk)
        size += len(chunk)
        if sink:
            sink.write(chunk)
        else:
            kept.extend(chunk)

    try:
        ftp.retrbinary(f"RETR {path.lstrip('/')}", take, blocksize=_CHUNK)
        ftp.quit()
    except ftplib.all_errors as exc:
        raise TransferFailed(_code(exc), str(exc)) from exc
    finally:
        if sink:
            sink.close()
        ftp.close()
    return Transferred(size, digest.hexdigest(), 226), bytes(kept)


def ftp_upload(url: str, data: bytes | Path, *, file_name: str = "log.txt", timeout: float = 30, ftps: bool = False,
               ca_file: str | Path | None = None, server_hostname: str | None = None,
               write_size: int = WRITE_SIZE) -> Transferred:
    """STOR the file at the URL's path, or under ``file_name`` when the path ends in "/";
    ``ftps``: over explicit FTPS, trusting ``ca_file``; ``write_size``: the most handed to the
    socket at once."""
    ftp, path = _ftp(url, timeout, _Tls(ca_file, server_hostname) if ftps else None)
    target = path.lstrip("/")
    if not target or target.endswith("/"):
        target += file_name
    source, size = _source(data)
    try:
        with source:
            try:
                answer = ftp.storbinary(f"STOR {target}", source, blocksize=write_size)
            except OSError as broken:
                # The server closed the data connection while we sent: its reason is on the control one.
                try:
                    answer = ftp.getresp()
                except ftplib.all_errors as exc:
                    raise TransferFailed(_code(exc), str(exc)) from broken
                raise TransferFailed(_code(Exception(answer)), answer) from broken
        ftp.quit()
    except ftplib.all_errors as exc:
        raise TransferFailed(_code(exc), str(exc)) from exc
    finally:
        ftp.close()
    return Transferred(size, _sha256(data), int(answer[:3]))


# --- either -----------------------------------------------------------------------------------

def upload(url: str, data: bytes | Path, *, ca_file: str | Path | None = None, server_hostname: str | None = None,
           file_name: str = "log.txt", **options: Any) -> Transferred:
    """Upload to an https:// or ftp:// URL, as a station does with remoteLocation."""
    if url.startswith("ftp://"):
        return ftp_upload(url, data, file_name=file_name, ftps=options.get("ftps", False), ca_file=ca_file,
                          server_hostname=server_hostname, write_size=options.get("write_size", WRITE_SIZE))
    options.pop("ftps", None)
    if url.endswith("/") and not options.get("multipart"):
        url += quote(file_name)
    return https_upload(url, data, ca_file=ca_file, server_hostname=server_hostname, file_name=file_name, **options)


def download(url: str, destination: Path | None = None, *, ca_file: str | Path | None = None,
             server_hostname: str | None = None, ftps: bool = False) -> tuple[Transferred, bytes]:
    if url.startswith("ftp://"):
        return ftp_download(url, destination, ftps=ftps, ca_file=ca_file, server_hostname=server_hostname)
    return https_download(url, destination, ca_file=ca_file, server_hostname=server_hostname)


async def upload_async(url: str, data: bytes | Path, **options: Any) -> Transferred:
    return await asyncio.to_thread(upload, url, data, **options)


async def download_async(url: str, destination: Path | None = None, **options: Any) -> tuple[Transferred, bytes]:
    return await asyncio.to_thread(download, url, destination, **options)
