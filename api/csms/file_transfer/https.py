"""The HTTPS file server: GET a granted file, PUT or POST an upload, on its own port.

Why not the routes of an existing server: the REST API is plain HTTP bound to loopback (behind a
proxy), and the wss listener (websockets) reads a request head only, never a body. This server
uses the wss listener's TLS material (the same server certificates, chained to the CSMS root the
station already trusts for OCPP, and reloaded with it on rotation), on threads of its own: the
TLS decryption, hashing and disk writes of a fleet uploading logs never run on the event loop
that answers OCPP (ssl, hashlib and file writes release the GIL for large buffers).

Credentials are in the path, ``/files/<grant>/<secret>/<name>``: remoteLocation and location are
one string of at most 512 characters, and station HTTP clients differ in whether (and how) they
turn ``user:password@`` into Basic auth (RFC 3986 §3.2.1 deprecates it), while every client sends
the path as given. The secret is one-time, bound to one station and request, and never logged:
this server writes no access log. Unknown credentials: 401; known but expired, used, revoked or
for the other direction: 403; a body beyond the grant's limit: 413, nothing kept. The limit is
enforced while receiving (Content-Length is checked before the body, a chunked or multipart body
as it arrives); with ``Expect: 100-continue`` a refusal comes before the station sends anything.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sqlalchemy.engine import Engine

from api.csms.file_transfer.grants import Refused, check, count_download
from api.csms.file_transfer.limits import ConnectionLimits, SourceCounts, deadline
from api.csms.file_transfer.pace import TransferPace
from api.csms.file_transfer.store import FileStore, TooLarge
from storage.db import DatabaseUnavailable, read_scope, session_scope
from storage.file_transfer import DOWNLOAD, UPLOAD, FileGrant

log = logging.getLogger("chargeca.files.https")

_CHUNK = 256 * 1024
_MULTIPART_ALLOWANCE = 16 * 1024
_BOUNDARY = re.compile(r'boundary="?([^";]{1,70})"?', re.IGNORECASE)
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], engine: Engine, store: FileStore, context: ssl.SSLContext, *,
                 limits: ConnectionLimits, pace: TransferPace | None) -> None:
        self.engine = engine
        self.pace = pace
        self.store = store
        self.context = context
        self.limits = limits
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        self._sources = SourceCounts(limits.per_source)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Over either limit: closed before any TLS work.
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        if not self._sources.enter(client_address[0]):
            self._slots.release()
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, on the connection's thread: a slow client never holds the accept loop.
        try:
            request.settimeout(self.limits.idle_timeout)
            wrapped = None
            try:
                # Wrapped first: the TLS socket takes the descriptor over, and the deadline must cut that one.
                wrapped = self.context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
                cut = deadline(wrapped, self.limits.head_timeout)
                try:
                    wrapped.do_handshake()
                finally:
                    cut.cancel()
            except (OSError, ssl.SSLError):
                self.shutdown_request(wrapped or request)
                return
            super().process_request_thread(wrapped, client_address)
        finally:
            self._sources.leave(client_address[0])
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("file connection from %s ended with an error", client_address[0])


@contextlib.contextmanager
def _answerable() -> Iterator[None]:
    """A database outage as a 503 the station can act on (it retries), not a connection closed
    without an answer."""
    try:
        yield
    except DatabaseUnavailable:
        raise Refused(503, "the file service cannot reach its database: try again later") from None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "ChargeCA-files"
    sys_version = ""
    # No station speaks HTTP/0.9: a refused request line is answered with a status line too.
    default_request_version = "HTTP/1.1"
    _grant: FileGrant | None = None
    _name: str | None = None

    def log_message(self, format: str, *args: Any) -> None:
        return

    def handle_one_request(self) -> None:
        # Each request's head within head_timeout (limits.py); parse_request ends the wait.
        self._head_deadline = deadline(self.connection, self.server.limits.head_timeout)
        try:
            super().handle_one_request()
        finally:
            self._head_deadline.cancel()

    def parse_request(self) -> bool:
        parsed = super().parse_request()
        self._head_deadline.cancel()
        return parsed

    # --- credentials ---------------------------------------------------------------------------

    def _parse(self) -> tuple[str, str, str | None]:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        parts = path.split("/")
        # "", "files", grant, secret[, name]
        if len(parts) < 4 or parts[0] or parts[1] != "files" or len(parts) > 5:
            raise Refused(404, "not found")
        name = unquote(parts[4]) if len(parts) == 5 and parts[4] else None
        return parts[2], parts[3], name

    def _authorize(self, direction: str) -> FileGrant:
        grant_id, secret, name = self._parse()
        with _answerable(), read_scope(self.server.engine) as session:
            grant = check(session, grant_id, secret, direction)
        if direction == DOWNLOAD and name is not None and name != grant.file_name:
            raise Refused(404, "not found")
        self._name = name
        return grant

    def _upload_checked(self) -> FileGrant:
        grant = self._authorize(UPLOAD)
        lengths = self.headers.get_all("Content-Length", [])
        codings = self.headers.get_all("Transfer-Encoding", [])
        assert grant.max_bytes is not None
        # A body is read one way only: a length beside a coding, or two lengths, framed the file
        # one way here and another in whatever forwarded it (RFC 9112 §6.3).
        if len(lengths) + len(codings) > 1:
            raise Refused(400, "one Content-Length or one Transfer-Encoding, not both or two")
        if lengths:
            if not (lengths[0].isascii() and lengths[0].isdigit()):
                raise Refused(400, "bad Content-Length")
            if len(lengths[0]) > 19 or int(lengths[0]) > grant.max_bytes + _multipart_allowance(self.headers):
                raise Refused(413, f"larger than the limit of {grant.max_bytes} bytes")
        elif not codings:
            raise Refused(411, "Content-Length or chunked transfer encoding required")
        elif codings[0].strip().lower() != "chunked":
            raise Refused(501, "the only transfer coding taken is chunked")
        return grant

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own refusals (a request line or head it cannot read, a method not served)
        # came as HTML pages; every answer of this server is JSON.
        self.close_connection = True
        self._json(code, {"error": message or HTTPStatus(code).phrase})

    def handle_expect_100(self) -> bool:
        if self.command in ("PUT", "POST"):
            try:
                self._grant = self._upload_checked()
            except Refused as refused:
                self._refuse(refused)
                return False
        return super().handle_expect_100()

    def _refuse(self, refused: Refused) -> None:
        self.close_connection = True  # the body (if any) is not read
        self._json(refused.status, {"error": refused.reason})

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    # --- download ------------------------------------------------------------------------------

    def do_GET(self) -> None:
        try:
            grant = self._authorize(DOWNLOAD)
            assert grant.blob_path is not None
            blob = open(grant.blob_path, "rb")  # noqa: SIM115 - closed below
        except Refused as refused:
            self._refuse(refused)
            return
        except OSError:
            self._refuse(Refused(404, "the stored file is gone"))
            return
        try:
            with _answerable(), session_scope(self.server.engine) as session:
                count_download(session, grant.id)   # counted as it starts: a broken download is one too
        except Refused as refused:
            blob.close()
            self._refuse(refused)
            return
        with blob:
            size = Path(grant.blob_path).stat().st_size
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            if self.command == "HEAD":
                return
            for chunk in self._paced(iter(lambda: blob.read(_CHUNK), b"")):
                self.wfile.write(chunk)

    do_HEAD = do_GET

    # --- upload --------------------------------------------------------------------------------

    def do_PUT(self) -> None:
        # Checked before the 100 Continue, or now; never carried over to the next request of a
        # kept-alive connection.
        grant, self._grant = self._grant, None
        try:
            grant = grant or self._upload_checked()
        except Refused as refused:
            self._refuse(refused)
            return
        receiving = self.server.store.receive(grant)
        try:
            name = self._name
            chunks = self._paced(self._body())
            boundary = _multipart_boundary(self.headers)
            if boundary is not None:
                parts = _MultipartFile(chunks, boundary)
                for chunk in parts.data():
                    receiving.write(chunk)
                name = parts.file_name or name
            else:
                for chunk in chunks:
                    receiving.write(chunk)
            with _answerable():
                received = receiving.finish(self.server.engine, name, "https")
        except TooLarge as exceeded:
            receiving.abort()
            self._refuse(Refused(413, str(exceeded)))
            return
        except Refused as refused:
            receiving.abort()
            self._refuse(refused)
            return
        except (OSError, ValueError):
            receiving.abort()
            self.close_connection = True
            log.info("upload with grant %s broke off", grant.id)
            return
        self._json(201, {"size": received.size, "sha256": received.sha256})

    do_POST = do_PUT

    def _paced(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """Each chunk once the caller has moved the one before within the service's pace."""
        pace = self.server.pace
        for chunk in chunks:
            yield chunk
            if pace is not None:
                pace.wait(len(chunk))

    def _body(self) -> Iterator[bytes]:
        length = self.headers.get("Content-Length")
        if length is not None:
            remaining = int(length)
            while remaining:
                chunk = self.rfile.read1(min(_CHUNK, remaining))
                if not chunk:
                    raise ValueError("body ended early")
                remaining -= len(chunk)
                yield chunk
            return
        yield from _chunked(self.rfile.readline, self.rfile.read)


def _chunked(readline: Callable[[int], bytes], read: Callable[[int], bytes]) -> Iterator[bytes]:
    """RFC 9112 §7.1 chunked transfer coding, chunk by chunk (extensions and trailers ignored)."""
    while True:
        line = readline(1024)
        if not line:
            raise ValueError("body ended early")
        size_text = line.split(b";", 1)[0].strip()
        if not line.endswith(b"\n") or not _CHUNK_SIZE.fullmatch(size_text):
            raise Refused(400, "bad chunk size line")
        size = int(size_text, 16)
        if size == 0:
            while readline(1024) not in (b"\r\n", b"\n", b""):
                pass
            return
        while size:
            chunk = read(min(_CHUNK, size))
            if not chunk:
                raise ValueError("body ended early")
            size -= len(chunk)
            yield chunk
        if readline(3) not in (b"\r\n", b"\n"):
            raise Refused(400, "chunk not followed by CRLF")


def _multipart_boundary(headers: Any) -> bytes | None:
    content_type = headers.get("Content-Type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    match = _BOUNDARY.search(content_type)
    if not match:
        raise Refused(400, "multipart without boundary")
    return match.group(1).encode()


def _multipart_allowance(headers: Any) -> int:
    """What multipart framing may add around the file (the limit is the file's, not the body's)."""
    return _MULTIPART_ALLOWANCE if headers.get("Content-Type", "").lower().startswith("multipart/form-data") else 0


class _MultipartFile:
    """The first part of a multipart/form-data body that carries a file (or the first part), as
    it streams; the rest of the body is read and dropped (at most the framing allowance)."""

    _HEAD_LIMIT = 8 * 1024

    def __init__(self, chunks: Iterator[bytes], boundary: bytes) -> None:
        self._chunks = chunks
        self._delimiter = b"\r\n--" + boundary
        self.file_name: str | None = None

    def data(self) -> Iterator[bytes]:
        buffer = b"\r\n"   # so that the first boundary looks like every other one
        chunks = self._chunks
        buffer = self._until(buffer, self._delimiter)[1]
        head, buffer = self._until(buffer, b"\r\n\r\n", limit=self._HEAD_LIMIT)
        match = re.search(rb'filename="([^"]*)"', head)
        self.file_name = match.group(1).decode("utf-8", "replace") if match else None
        keep = len(self._delimiter) - 1
        while True:
            index = buffer.find(self._delimiter)
            if index >= 0:
                if index:
                    yield buffer[:index]
                dropped = len(buffer) - index
                for chunk in chunks:   # epilogue and further parts: bounded, then dropped
                    dropped += len(chunk)
                    if dropped > _MULTIPART_ALLOWANCE:
                        raise Refused(413, "multipart body beyond its first file part")
                return
            if len(buffer) > keep:
                yield buffer[:-keep]
                buffer = buffer[-keep:]
            chunk = next(chunks, None)
            if chunk is None:
                raise Refused(400, "multipart body ended inside its file part")
            buffer += chunk

    def _until(self, buffer: bytes, marker: bytes, limit: int = 64 * 1024) -> tuple[bytes, bytes]:
        while (index := buffer.find(marker)) < 0:
            if len(buffer) > limit:
                raise Refused(400, "multipart framing too long")
            chunk = next(self._chunks, None)
            if chunk is None:
                raise Refused(400, "multipart body ended early")
            buffer += chunk
        return buffer[:index], buffer[index + len(marker):]


class HttpsFileServer:
    """Runs the server on a thread of its own; ``port`` is the one actually bound."""

    def __init__(self, engine: Engine, store: FileStore, context: ssl.SSLContext, *, host: str, port: int,
                 limits: ConnectionLimits, reuse_port: bool = False, pace: TransferPace | None = None) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_class = type("_Server", (_Server,), {"allow_reuse_port": reuse_port, "address_family": family})
        self._server = server_class((host, port), engine, store, context, limits=limits, pace=pace)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="chargeca-files-https", daemon=True)

    def start(self) -> HttpsFileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
