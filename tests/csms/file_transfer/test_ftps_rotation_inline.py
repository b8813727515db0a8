"""The file service on threads of `chargeca serve` (not its own process) follows a rotation of the
wss listener's server certificates on FTPS too: HTTPS shares the listener's material, FTPS
sessions are made from a context of their own (api/stack.py hooks it to the listeners' reload)."""

from __future__ import annotations

import asyncio
import ftplib
import ssl
from pathlib import Path

from conftest import TEST_FQDN
from cryptography import x509
from ocpp_support import files_csms  # noqa: F401 - fixture

from pki.authorities import issue_server_certificates
from pki.serials import serial_hex
from storage.db import session_scope


def _served_serial(root: Path, port: int) -> str:
    context = ssl.create_default_context(cafile=str(root))
    context.check_hostname = False
    ftp = ftplib.FTP_TLS(context=context, timeout=10)
    try:
        ftp.connect("127.0.0.1", port)
        ftp.auth()
        return serial_hex(x509.load_der_x509_certificate(ftp.sock.getpeercert(binary_form=True)).serial_number)
    finally:
        ftp.close()


async def test_inline_ftps_follows_the_listeners_certificate_rotation(files_csms):
    files = files_csms.rest._transport.app.state.file_service
    before = await asyncio.to_thread(_served_serial, files_csms.root_pem, files.ftp.port)
    with session_scope(files_csms.ctx.engine) as session:
        issued = issue_server_certificates(session, files_csms.ctx.keystore, fqdn=TEST_FQDN,
                                           policy=files_csms.ctx.policy, urls=files_csms.ctx.urls)

    assert await files_csms.listeners.reload_tls()

    after = await asyncio.to_thread(_served_serial, files_csms.root_pem, files.ftp.port)
    assert after != before and after in {record.serial_hex for record in issued}
