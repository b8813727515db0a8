"""The FTP file server (pyftpdlib): one virtual user per grant, on a thread of its own.

The user name is the grant id and the password its secret. A download grant's user sees one
file, read only (``elr``); an upload grant's user may store one file (``ew``) and nothing else:
no listing, no reading back, no append or resume (a resumed upload could not be hashed as it
arrives), and a second STOR once one upload completed is refused. The grant's expiry and use are
checked at login and again when a transfer opens. The size limit is enforced as the data arrives
(the receiving file refuses the chunk that crosses it, the transfer is aborted with 426 and the
partial file deleted), and a complete upload is kept, and the grant used up, before the 226 goes
out, so a station told "complete" has its file stored.

pyftpdlib runs its own select/epoll loop; it runs here on one thread, never on the asyncio loop
that serves OCPP.

FTPS: explicit (RFC 4217, ``AUTH TLS`` on the same port) whenever the server has TLS material,
with the wss listener's server certificates and the [tls] policy's minimum version and TLS 1.2
suites; a station that speaks it protects its credentials and data (``PROT P``), one that does
not is served in clear as before. pyftpdlib takes a pyOpenSSL context, hence ``ftps_context``.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from OpenSSL import SSL
from sqlalchemy.engine import Engine

# pyftpdlib 2.x still builds on asyncore/asynchat, which Python 3.11 flags as deprecated on import;
# the library is the one the project keeps for FTP (issue 12), and its loop is its own business.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", r"The asyn(core|chat) module is deprecated", DeprecationWarning)
    from pyftpdlib.authorizers import AuthenticationFailed
    from pyftpdlib.exceptions import _FileReadWriteError
    from pyftpdlib.filesystems import AbstractedFS
    from pyftpdlib.handlers import DTPHandler, FTPHandler, TLS_DTPHandler, TLS_FTPHandler
    from pyftpdlib.servers import FTPServer

from api.csms.file_transfer.grants import Refused, check, count_download
from api.csms.file_transfer.limits import ConnectionLimits
from api.csms.file_transfer.pace import TransferPace
from api.csms.file_transfer.store import FileStore, Receiving
from policies.model import TlsPolicy
from storage.db import DatabaseUnavailable, read_scope, session_scope
from storage.file_transfer import DOWNLOAD, UPLOAD, FileGrant
from storage.types import utcnow

log = logging.getLogger("chargeca.files.ftp")
# pyftpdlib logs every command at INFO; the user name is a grant id, harmless, but a fleet's
# uploads would flood the service log.
logging.getLogger("pyftpdlib").setLevel(logging.WARNING)

_PERMS = {DOWNLOAD: "elr", UPLOAD: "ew"}


class _GrantAuthorizer:
    """pyftpdlib's authorizer interface over the grant table."""

    def __init__(self, engine: Engine, store: FileStore) -> None:
        self.engine = engine
        self.store = store

    def validate_authentication(self, username: str, password: str, handler: _Handler) -> None:
        try:
            with read_scope(self.engine) as session:
                grant = check(session, username, password, None)
        except Refused as refused:
            raise AuthenticationFailed(refused.reason) from None
        except DatabaseUnavailable:
            raise AuthenticationFailed("service unavailable, try later") from None
        handler.grant = grant
        self.store.ftp_home(grant)

    def get_home_dir(self, username: str) -> str:
        return str(self.store.ftp_homes / username)

    def impersonate_user(self, username: str, password: str) -> None:
        return

    def terminate_impersonation(self, username: str) -> None:
        return

    def has_user(self, username: str) -> bool:
        return False   # no static users: every login goes through validate_authentication

    def has_perm(self, username: str, perm: str, path: str | None = None) -> bool:
        # Called by the handler only after a successful login; the handler knows the direction.
        return False

    def get_perms(self, username: str) -> str:
        return ""

    def get_msg_login(self, username: str) -> str:
        return "Login successful."

    def get_msg_quit(self, username: str) -> str:
        return "Goodbye."


class _GrantFS(AbstractedFS):
    """The home of one grant: uploads open a ``Receiving`` (limit and hash as data arrives)."""

    cmd_channel: _Handler

    def open(self, filename: str, mode: str) -> Any:
        channel = self.cmd_channel
        grant = channel.grant
        if grant is None or grant.expires_at <= utcnow():
            raise PermissionError("grant expired")
        if grant.direction == DOWNLOAD:
            if "r" not in mode or "+" in mode:
                raise PermissionError("read only")
            with session_scope(channel.server_engine) as session:
                count_download(session, grant.id)
            return super().open(filename, mode)
        if mode != "wb":
            raise PermissionError("only a whole new file may be stored")
        if channel.upload_done:
            raise PermissionError("this grant's file has been stored")
        receiving = channel.store.receive(grant)
        channel.upload_name = Path(filename).name
        return receiving


class _Dtp(DTPHandler):
    # Set per server (FtpFileServer); None: transfers go as fast as they can.
    pace: TransferPace | None = None
    _resuming: Any = None

    def use_sendfile(self) -> bool:
        # sendfile moves a download's bytes past ``send``, where the pace counts them.
        return self.pace is None and super().use_sendfile()

    def recv(self, buffer_size: int) -> bytes:
        chunk = super().recv(buffer_size)
        self._keep_pace(len(chunk))
        return chunk

    def send(self, data: bytes) -> int:
        sent = super().send(data)
        self._keep_pace(sent)
        return sent

    def _keep_pace(self, count: int) -> None:
        """Off the loop for as long as the pace says: this channel waits, the FTP loop does not."""
        if self.pace is None or not count or self._resuming is not None:
            return
        delay = self.pace.reserve(count)
        if delay:
            self.del_channel()
            self._resuming = self.ioloop.call_later(delay, self._resume, _errback=self.handle_error)

    def _resume(self) -> None:
        self._resuming = None
        self.add_channel(events=self.ioloop.READ if self.receive else self.ioloop.WRITE)

    def close(self) -> None:
        if self._resuming is not None and not self._resuming.cancelled:
            self._resuming.cancel()
        receiving = self.file_obj
        if not self._closed and self.receive and self.transfer_finished and isinstance(receiving, Receiving):
            channel: _Handler = self.cmd_channel
            try:
                receiving.finish(channel.server_engine, channel.upload_name, "ftp")
                channel.upload_done = True
            except (Refused, DatabaseUnavailable, OSError) as exc:
                self.transfer_finished = False
                self._resp = (f"550 Upload not kept: {exc}.", log.info)
        elif isinstance(receiving, Receiving) and not self.transfer_finished:
            receiving.abort()
        super().close()


class _Handler(FTPHandler):
    dtp_handler = _Dtp
    abstracted_fs = _GrantFS
    banner = "ChargeCA file service ready."
    # Set per server (FtpFileServer): pyftpdlib builds handlers from the class alone.
    server_engine: Engine
    store: FileStore
    login_timeout: float

    grant: FileGrant | None = None
    upload_done = False
    upload_name: str | None = None

    def has_perm_for(self, perm: str, path: str | None) -> bool:
        if self.grant is None or perm not in _PERMS[self.grant.direction]:
            return False
        if path is None:
            return True
        home = Path(self.fs.root).resolve()
        try:
            return Path(self.fs.realpath(path)).resolve().is_relative_to(home)
        except (OSError, ValueError):
            return False

    def __init__(self, conn: Any, server: Any, ioloop: Any = None) -> None:
        super().__init__(conn, server, ioloop)
        # The stock authorizer's permission hook sees no handler; the grant (its direction) lives here.
        self.authorizer = _HandlerPerms(self)

    def on_incomplete_file_received(self, file: str) -> None:
        Path(file).unlink(missing_ok=True)

    def on_connect(self) -> None:
        # Logged in within login_timeout, or closed (limits.py): a NOOP a minute kept a session
        # that never logged in. Cancelled with the session (AsyncChat.call_later).
        self.call_later(self.login_timeout, self._login_too_late)

    def _login_too_late(self) -> None:
        if not self.authenticated:
            self.respond("421 Login not completed in time.")
            self.close_when_done()

    def respond_w_warning(self, resp: str) -> None:
        # pyftpdlib logs these refusals at WARNING, a line each: a command too long (per 64 KB sent
        # without a line end) and a connection over the limit come before any login, so a client
        # repeating them would write the service log without end. The reply tells the client.
        self.respond(resp)

    def ftp_STOU(self, line: str) -> None:
        # pyftpdlib's STOU writes a file it names itself, past _GrantFS.open: no limit, no hash, no
        # row, and as many files as the session sends, after the grant's own file too.
        self.respond("550 STOU not allowed: store the file by name (STOR).")


class _HandlerPerms:
    """The authorizer as seen by one logged-in handler: permissions follow its grant."""

    def __init__(self, handler: _Handler) -> None:
        self._handler = handler
        self._base: _GrantAuthorizer = type(handler).shared_authorizer  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)

    def has_perm(self, username: str, perm: str, path: str | None = None) -> bool:
        return self._handler.has_perm_for(perm, path)


class _TlsDtp(TLS_DTPHandler, _Dtp):
    def handle_error(self) -> None:
        # The TLS mixin logs any error and closes without a reply; an upload past its limit must
        # still get its 426 on the control connection, as in clear.
        try:
            raise  # noqa: PLE0704 - called from asyncore's except clause
        except _FileReadWriteError as exc:
            self._error = True   # no TLS shutdown on a data channel we abandon
            self._resp = (f"426 {os.strerror(exc.errno or errno.EIO)}; transfer aborted.", log.info)
            self.close()
        except Exception:  # noqa: BLE001 - the mixin's own handling for everything else
            super().handle_error()


class _TlsHandler(TLS_FTPHandler, _Handler):
    dtp_handler = _TlsDtp


_OPENSSL_VERSIONS = {"TLSv1.2": SSL.TLS1_2_VERSION, "TLSv1.3": SSL.TLS1_3_VERSION}


def ftps_context(certificates: Sequence[tuple[Path, Path, bytes]], policy: TlsPolicy) -> SSL.Context:
    """A pyOpenSSL server context: (chain file, encrypted key file, its passphrase) per server
    certificate (one EC, one RSA: OpenSSL keeps one per key type), the policy's versions and suites."""
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.set_min_proto_version(_OPENSSL_VERSIONS[policy.min_version])
    context.set_max_proto_version(_OPENSSL_VERSIONS[policy.max_version])
    context.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_CIPHER_SERVER_PREFERENCE | SSL.OP_NO_RENEGOTIATION)
    context.set_cipher_list(":".join(policy.tls12_ciphers).encode())
    for chain, key, passphrase in certificates:
        context.set_passwd_cb(lambda *_args, secret=passphrase: secret)
        context.use_certificate_chain_file(str(chain))
        context.use_privatekey_file(str(key))
    return context


class FtpFileServer:
    """pyftpdlib on its own thread; ``port`` is the one actually bound. ``tls``: FTPS offered."""

    def __init__(self, engine: Engine, store: FileStore, *, host: str, port: int,
                 passive_ports: range | None, masquerade_address: str | None, limits: ConnectionLimits,
                 tls: SSL.Context | None = None, reuse_port: bool = False, pace: TransferPace | None = None) -> None:
        authorizer = _GrantAuthorizer(engine, store)
        base = _TlsHandler if tls is not None else _Handler
        dtp = base.dtp_handler
        handler = type("GrantFtpHandler", (base,), {
            "server_engine": engine, "store": store, "authorizer": authorizer, "shared_authorizer": authorizer,
            "passive_ports": list(passive_ports) if passive_ports else None,
            "masquerade_address": masquerade_address, "timeout": limits.idle_timeout,
            "login_timeout": limits.head_timeout,
            "dtp_handler": type("GrantDtp", (dtp,), {"timeout": limits.idle_timeout, "pace": pace}), "ssl_context": tls,
            "permit_foreign_addresses": False, "permit_privileged_ports": False,
            "max_login_attempts": 1, "auth_failed_timeout": 1})
        self._handler = handler
        # Shared with the other workers (SO_REUSEPORT): only the control port; each worker's passive
        # ports are its own slice of the range, so a data connection reaches the worker that offered it.
        address = (socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET,
                                        reuse_port=True) if reuse_port else (host, port))
        self._server = FTPServer(address, handler)
        self._server.max_cons = limits.max_connections
        self._server.max_cons_per_ip = limits.per_source
        self.port: int = self._server.address[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chargeca-files-ftp", daemon=True)

    def use_tls(self, context: SSL.Context) -> None:
        """New connections negotiate with ``context`` (rotated certificates); open ones keep theirs."""
        if issubclass(self._handler, TLS_FTPHandler):
            self._handler.ssl_context = context

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._server.serve_forever(timeout=0.2, blocking=False, handle_exit=False)
        finally:
            self._server.close_all()

    def start(self) -> FtpFileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
