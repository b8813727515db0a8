"""The file service with real servers on loopback (HTTPS with the wss certificates, FTP) and the
simulated station's own clients: downloads, uploads, limits, expiry, direction, traversal."""

from __future__ import annotations

import ftplib
import hashlib
import io
import logging
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import TEST_FQDN
from cryptography.hazmat.primitives.serialization import Encoding
from sqlmodel import select

from api.core.audit import run_in_session
from api.csms.file_transfer import GrantError, grant_download, grant_upload, received_file, revoke
from api.csms.file_transfer.limits import ConnectionLimits
from api.csms.file_transfer.service import FileService, FileServiceConfig
from api.ocpp.transport.tls_material import TlsMaterial
from simulator import file_transfer as station
from storage.file_transfer import FileGrant, ReceivedFile
from storage.types import utcnow


class Service:
    def __init__(self, pki, files: FileService, root: Path) -> None:
        self.ctx = pki.ctx
        self.files = files
        self.root = root

    def upload(self, max_bytes: int = 1 << 20, ttl: timedelta = timedelta(minutes=5), request_id: int = 1):
        return run_in_session(self.ctx, lambda s: grant_upload(
            s, self.files.endpoints, station_id="CS-1", purpose="log", request_id=request_id, max_bytes=max_bytes,
            ttl=ttl))

    def download(self, path: Path, ttl: timedelta = timedelta(minutes=5)):
        return run_in_session(self.ctx, lambda s: grant_download(
            s, self.files.endpoints, station_id="CS-1", path=path, purpose="firmware", request_id=1, ttl=ttl))

    def received(self, grant_id: str):
        return run_in_session(self.ctx, lambda s: received_file(s, grant_id, self.ctx.settings.data_dir))

    def expire(self, grant_id: str) -> None:
        def work(session):
            grant = session.get(FileGrant, grant_id)
            grant.expires_at = utcnow() - timedelta(seconds=1)
            session.add(grant)
        run_in_session(self.ctx, work)

    def tls(self) -> dict:
        return {"ca_file": self.root, "server_hostname": TEST_FQDN}

    def leftovers(self) -> list[Path]:
        """Files anywhere under incoming/ and received/ (nothing may stay of a refused upload)."""
        store = self.files.store
        return [p for d in (store.incoming, store.received) for p in d.rglob("*") if p.is_file()]


def _running(sqlite_pki, limits: ConnectionLimits = ConnectionLimits(max_connections=20, idle_timeout=10),
             **config) -> Iterator[Service]:
    ctx = sqlite_pki.ctx
    root = ctx.settings.data_dir / "root.pem"
    root.write_bytes(sqlite_pki.hierarchy.root.certificate.public_bytes(Encoding.PEM))
    config = FileServiceConfig(public_name="127.0.0.1", https_host="127.0.0.1", https_port=0,
                               ftp_host="127.0.0.1", ftp_port=0, limits=limits, **config)
    files = FileService(ctx, config, TlsMaterial(ctx)).start()
    try:
        yield Service(sqlite_pki, files, root)
    finally:
        files.stop()


@pytest.fixture
def service(sqlite_pki) -> Iterator[Service]:
    yield from _running(sqlite_pki)


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "image v1.bin"
    path.write_bytes(os.urandom(300_000))
    return path


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- downloads -------------------------------------------------------------------------------

def test_download_over_https_is_the_stored_file(service, image):
    locations = service.download(image)
    assert locations.https_url.endswith("/image_v1.bin")
    got, data = station.download(locations.https_url, **service.tls())
    assert data == image.read_bytes() and got.sha256 == _sha(data)
    assert run_in_session(service.ctx, lambda s: s.get(FileGrant, locations.grant_id).downloads) == 1


def test_download_over_ftp_is_the_stored_file(service, image):
    locations = service.download(image)
    assert locations.ftp_url.startswith(f"ftp://{locations.grant_id}:")
    _, data = station.download(locations.ftp_url)
    assert data == image.read_bytes()
    # retried downloads are allowed until the grant expires
    assert station.download(locations.ftp_url)[1] == data


def test_https_refuses_a_station_that_does_not_trust_the_server(service, image, tmp_path):
    locations = service.download(image)
    with pytest.raises(station.TransferFailed, match="TLS"):
        station.download(locations.https_url, ca_file=None, server_hostname=TEST_FQDN)


def test_a_grant_needs_a_stored_file(service, tmp_path):
    with pytest.raises(GrantError):
        service.download(tmp_path / "missing.bin")


# --- uploads ---------------------------------------------------------------------------------

@pytest.mark.parametrize("options", [
    {"method": "PUT"}, {"method": "POST"}, {"method": "PUT", "chunked": True, "expect_continue": False},
    {"method": "POST", "multipart": True}, {"method": "POST", "multipart": True, "chunked": True},
], ids=["put", "post", "put-chunked", "post-multipart", "post-multipart-chunked"])
def test_upload_over_https_is_kept_with_its_checksum(service, options):
    data = os.urandom(700_001)
    locations = service.upload()
    sent = station.upload(locations.https_url, data, file_name="diag 1.log", **service.tls(), **options)
    assert sent.status == 201
    kept = service.received(locations.grant_id)
    assert kept.size == len(data) and kept.sha256 == _sha(data) and kept.protocol == "https"
    assert kept.path.read_bytes() == data
    assert kept.station_id == "CS-1" and kept.request_id == 1
    if options.get("multipart"):
        assert kept.file_name == "diag_1.log"
    assert not list(service.files.store.incoming.iterdir())


def test_a_simulated_upload_hands_its_socket_at_most_its_write_size_at_once():
    # What scripts/bench_uploads.py relies on: large writes of the uploading stations held up the
    # other stations simulated on their core (the loopback receive path runs in the writer's call).
    body = io.BytesIO(b"x" * 40_000)

    pieces = [len(piece) for piece in station._pieces(b"head", body, b"tail", 16_384)]

    assert pieces == [4, 16_384, 16_384, 7_232, 4]
    assert station.WRITE_SIZE == 16 * 1024


def test_upload_over_ftp_is_kept_with_its_checksum(service):
    data = os.urandom(900_000)
    locations = service.upload()
    assert station.upload(locations.ftp_url, data, file_name="diag.log").status == 226
    kept = service.received(locations.grant_id)
    assert kept.path.read_bytes() == data and kept.sha256 == _sha(data) and kept.file_name == "diag.log"
    assert kept.protocol == "ftp"


@pytest.mark.parametrize("protocol", ["https", "ftp"])
def test_an_upload_grant_is_used_once(service, protocol):
    locations = service.upload()
    station.upload(locations.url(protocol), b"first", **service.tls())
    with pytest.raises(station.TransferFailed) as refused:
        station.upload(locations.url(protocol), b"second", **service.tls())
    assert refused.value.status == (403 if protocol == "https" else 530)
    assert service.received(locations.grant_id).path.read_bytes() == b"first"


# --- the size limit --------------------------------------------------------------------------

@pytest.mark.parametrize("options", [{}, {"expect_continue": False}, {"chunked": True, "expect_continue": False},
                                     {"multipart": True, "method": "POST"}],
                         ids=["declared", "declared-no-expect", "chunked", "multipart"])
def test_https_upload_beyond_the_limit_is_refused_and_nothing_kept(service, options):
    locations = service.upload(max_bytes=100_000)
    with pytest.raises(station.TransferFailed) as refused:
        station.upload(locations.https_url, os.urandom(2_000_000), **service.tls(), **options)
    assert refused.value.status in (413, None)   # None: closed while the station still sent
    if not options.get("chunked"):
        assert refused.value.status == 413
    assert service.received(locations.grant_id) is None
    assert service.leftovers() == []
    # the grant is not used up: a file within the limit still goes
    station.upload(locations.https_url, b"x" * 100_000, **service.tls())
    assert service.received(locations.grant_id).size == 100_000


def test_ftp_upload_beyond_the_limit_is_aborted_and_nothing_kept(service):
    locations = service.upload(max_bytes=100_000)
    with pytest.raises(station.TransferFailed) as refused:
        station.upload(locations.ftp_url, os.urandom(2_000_000))
    assert refused.value.status == 426
    assert service.received(locations.grant_id) is None
    assert service.leftovers() == []
    station.upload(locations.ftp_url, b"y" * 100_000)
    assert service.received(locations.grant_id).size == 100_000


# --- credentials -----------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", ["https", "ftp"])
def test_expired_credentials_are_refused_and_nothing_written(service, image, protocol):
    upload, download = service.upload(), service.download(image)
    service.expire(upload.grant_id)
    service.expire(download.grant_id)
    expected = 403 if protocol == "https" else 530
    with pytest.raises(station.TransferFailed) as refused:
        station.upload(upload.url(protocol), b"late", **service.tls())
    assert refused.value.status == expected
    with pytest.raises(station.TransferFailed) as refused:
        station.download(download.url(protocol), **service.tls())
    assert refused.value.status == expected
    assert service.leftovers() == []


@pytest.mark.parametrize("protocol", ["https", "ftp"])
def test_unknown_or_wrong_secrets_are_refused(service, protocol):
    locations = service.upload()
    good = locations.url(protocol)
    secret = good.split("/files/")[1].split("/")[1] if protocol == "https" else good.split(":")[2].split("@")[0]
    wrong = good.replace(secret, "A" * len(secret))
    with pytest.raises(station.TransferFailed) as refused:
        station.upload(wrong, b"data", **service.tls())
    assert refused.value.status == (401 if protocol == "https" else 530)
    assert service.leftovers() == []


def test_credentials_are_checked_while_another_process_writes(service):
    """Checking a station's credentials only reads: it must not queue for SQLite's write lock
    behind another process's writer (the file service is one, at the lowest CPU priority)."""
    upload = service.upload()
    other = sqlite3.connect(service.ctx.engine.url.database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")   # another process's writer, holding the lock throughout
    try:
        with ThreadPoolExecutor(1) as pool:
            ftp = pool.submit(_ftp_login, upload.ftp_url).result(timeout=5)   # the login is answered
            ftp.close()
            wrong = upload.https_url.replace(upload.https_url.split("/files/")[1].split("/")[1], "A" * 20)
            refused = pool.submit(_refused_status, wrong, service.tls())
            assert refused.result(timeout=5) == 401
    finally:
        other.rollback()
        other.close()


def _refused_status(url: str, tls: dict) -> int | None:
    try:
        station.upload(url, b"data", **tls)
    except station.TransferFailed as refused:
        return refused.status
    return None


def test_revoked_grants_are_refused(service):
    locations = service.upload()
    assert run_in_session(service.ctx, lambda s: revoke(s, locations.grant_id))
    with pytest.raises(station.TransferFailed) as refused:
        station.upload(locations.https_url, b"data", **service.tls())
    assert refused.value.status == 403


def test_https_wrong_direction_is_refused(service, image):
    upload, download = service.upload(), service.download(image)
    with pytest.raises(station.TransferFailed) as refused:
        station.download(upload.https_url, **service.tls())
    assert refused.value.status == 403
    url = download.https_url.rsplit("/", 1)[0] + "/"
    with pytest.raises(station.TransferFailed) as refused:
        station.upload(url, b"overwrite", **service.tls())
    assert refused.value.status == 403
    assert image.read_bytes() != b"overwrite" and service.leftovers() == []


def _ftp_login(url: str) -> ftplib.FTP:
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    ftp = ftplib.FTP(timeout=10)
    ftp.connect(parts.hostname, parts.port)
    ftp.login(parts.username, parts.password)
    return ftp


def test_ftp_wrong_direction_is_refused(service, image):
    upload, download = service.upload(), service.download(image)
    ftp = _ftp_login(download.ftp_url)
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.storbinary("STOR evil.bin", __import__("io").BytesIO(b"overwrite"))
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.delete(download.ftp_url.rsplit("/", 1)[1])
    ftp.close()
    ftp = _ftp_login(upload.ftp_url)
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.retrbinary("RETR anything", lambda _: None)
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.nlst()
    ftp.close()
    assert image.read_bytes() != b"overwrite" and service.leftovers() == []


def test_ftp_stou_stores_nothing_past_the_grant(service):
    """STOU (a name of the server's choosing) wrote any number of files of any size into the grant's
    FTP home, past its limit and after its one file: it is refused, and STOR still works."""
    upload = service.upload(max_bytes=1000)
    ftp = _ftp_login(upload.ftp_url)
    with pytest.raises(ftplib.error_perm, match="^550 STOU not allowed"):
        ftp.storbinary("STOU", io.BytesIO(b"z" * 50_000))
    ftp.storbinary("STOR diag.log", io.BytesIO(b"ok"))
    with pytest.raises(ftplib.error_perm, match="^550 STOU not allowed"):
        ftp.storbinary("STOU", io.BytesIO(b"z" * 50_000))
    ftp.close()
    assert list((service.files.store.ftp_homes / upload.grant_id).iterdir()) == []
    assert [p.name for p in service.leftovers()] == ["diag.log"]
    assert service.received(upload.grant_id).path.read_bytes() == b"ok"


def test_ftp_refusals_before_login_write_no_log_lines(service, caplog):
    """Before any login, pyftpdlib wrote a warning line per 64 KB sent without a line end ("Command
    too long") and per connection over the limit ("Too many connections"): a client repeating
    either wrote the service log without end. The replies still tell the client."""
    port = service.files.ftp.port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as flood:
        answers = flood.makefile("rb")
        assert answers.readline().startswith(b"220 ")
        flood.sendall(b"A" * 1_000_000)
        assert answers.readline() == b"500 Command too long.\r\n"
    held, replies = [], []
    try:
        for _ in range(25):   # the fixture's limit is 20
            connection = socket.create_connection(("127.0.0.1", port), timeout=10)
            held.append(connection)
            replies.append(connection.makefile("rb").readline())
    finally:
        for connection in held:
            connection.close()
    assert b"421 Too many connections. Service temporarily unavailable.\r\n" in replies
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def _raw_https(service, url: str, request: bytes) -> tuple[int | None, dict | None]:
    """Send ``request`` as it is (the path of ``url`` in place of PATH) on a TLS connection; the
    status and the JSON body of the answer (None for what is missing or no JSON)."""
    import json
    import ssl
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    context = ssl.create_default_context(cafile=str(service.root))
    context.check_hostname = False
    answer = b""
    with context.wrap_socket(socket.create_connection((parts.hostname, parts.port), timeout=20)) as connection:
        connection.sendall(request.replace(b"PATH", parts.path.encode()))
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.1 ") else None
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


@pytest.mark.parametrize(("request_text", "status"), [
    ("DELETE PATH HTTP/1.1\r\nHost: x\r\n\r\n", 501),
    ("GET PATH HTTP/9.9\r\nHost: x\r\n\r\n", 505),
    ("GET PATH HTTP/1.1 trailing\r\nHost: x\r\n\r\n", 400),
    ("GET /files/" + "a" * 70_000 + " HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ("GET PATH HTTP/1.1\r\n" + "X-A: b\r\n" * 120 + "\r\n", 431),
], ids=["method", "version", "request-line", "long-path", "many-headers"])
def test_https_refusals_of_the_http_layer_are_json(service, image, request_text, status):
    """http.server answered these with an HTML page: every answer of the file service is JSON."""
    answer = _raw_https(service, service.download(image).https_url, request_text.encode())
    assert answer[0] == status and isinstance(answer[1]["error"], str)


_PUT = "PUT PATHx.log HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"


@pytest.mark.parametrize(("request_text", "status"), [
    # Stored "3\r\n" (the first line of the chunked body) as the file, answered 201.
    (_PUT + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400),
    # Stored the first length's bytes, the rest left for a "next request".
    (_PUT + "Content-Length: 5\r\nContent-Length: 500\r\n\r\nhello", 400),
    # Stored the gzip-coded bytes as the file.
    (_PUT + "Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 501),
    # These four were closed without an answer.
    (_PUT + "Content-Length: \u00b2\r\n\r\nab", 400),
    (_PUT + "Content-Length: " + "9" * 5000 + "\r\n\r\n", 413),
    (_PUT + "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400),
    (_PUT + "Content-Type: multipart/form-data\r\nContent-Length: 5\r\n\r\nhello", 400),
    # A chunk size of -1 read the rest of the connection into memory, whatever its size.
    (_PUT + "Transfer-Encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n", 400),
], ids=["te-and-length", "two-lengths", "other-coding", "length-not-ascii", "length-digits", "chunk-size",
        "multipart-boundary", "chunk-size-negative"])
def test_https_upload_framing_a_server_cannot_read_one_way_is_refused(service, request_text, status):
    upload = service.upload(max_bytes=1000)
    answer = _raw_https(service, upload.https_url, request_text.encode("latin-1"))
    assert answer[0] == status and isinstance(answer[1]["error"], str)
    assert service.received(upload.grant_id) is None and service.leftovers() == []


# --- path traversal --------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["../../../../etc/passwd", "..%2f..%2fchargeca.db", "%2e%2e/x", "a/b"])
def test_https_paths_reach_only_the_granted_file(service, image, suffix):
    locations = service.download(image)
    url = locations.https_url.rsplit("/", 1)[0] + "/" + suffix
    with pytest.raises(station.TransferFailed) as refused:
        station.download(url, **service.tls())
    assert refused.value.status in (404, 401)


def test_https_grant_id_traversal_is_unknown(service, image):
    locations = service.download(image)
    url = locations.https_url.replace(f"/files/{locations.grant_id}/", "/files/../../")
    with pytest.raises(station.TransferFailed) as refused:
        station.download(url, **service.tls())
    assert refused.value.status in (401, 404)


def test_ftp_cannot_leave_the_grants_home(service, image):
    download = service.download(image)
    ftp = _ftp_login(download.ftp_url)
    for path in ("../../chargeca.db", "/../../../etc/passwd", "../" + image.name):
        with pytest.raises(ftplib.error_perm):
            ftp.retrbinary(f"RETR {path}", lambda _: None)
    ftp.cwd("../..")   # the home is the root: above it is the root again
    assert ftp.pwd() == "/" and ftp.nlst() == ["image_v1.bin"]
    ftp.close()
    upload = service.upload()
    station.upload(upload.ftp_url.rstrip("/") + "/../../../escape.log", b"inside")
    kept = service.received(upload.grant_id)
    assert kept.file_name == "escape.log"
    assert kept.path.is_relative_to(service.files.store.received)
    assert not (service.ctx.settings.data_dir / "escape.log").exists()


def test_a_grant_is_bound_to_its_station_and_request(service):
    service.upload(request_id=41)
    rows = run_in_session(service.ctx, lambda s: s.exec(select(FileGrant)).all())
    assert [(r.station_id, r.purpose, r.request_id, r.direction) for r in rows] == [("CS-1", "log", 41, "upload")]
    assert all(len(r.secret_hash) == 64 for r in rows)
    assert run_in_session(service.ctx, lambda s: s.exec(select(ReceivedFile)).all()) == []


# --- FTPS (explicit, same port) --------------------------------------------------------------

def test_ftps_download_and_upload(service, image):
    download = service.download(image)
    assert station.download(download.ftp_url, ftps=True, **service.tls())[1] == image.read_bytes()
    upload = service.upload()
    data = os.urandom(200_000)
    assert station.upload(upload.ftp_url, data, ftps=True, **service.tls()).status == 226
    assert service.received(upload.grant_id).sha256 == _sha(data)


def test_ftps_limit_and_credentials_hold_as_in_clear(service):
    upload = service.upload(max_bytes=10_000)
    with pytest.raises(station.TransferFailed) as refused:
        station.upload(upload.ftp_url, os.urandom(500_000), ftps=True, **service.tls())
    assert refused.value.status == 426 and service.leftovers() == []
    service.expire(upload.grant_id)
    with pytest.raises(station.TransferFailed) as refused:
        station.upload(upload.ftp_url, b"late", ftps=True, **service.tls())
    assert refused.value.status == 530


def test_ftps_follows_a_server_certificate_rotation(service):
    """What the file service's process runs after a rotation (process.py): FileService had no
    reload_tls, so each rotation ended in a traceback and FTPS kept the old certificates."""
    import ssl

    from cryptography import x509

    from pki.authorities import issue_server_certificates
    from pki.serials import serial_hex
    from storage.db import session_scope

    def served_serial() -> str:
        context = ssl.create_default_context(cafile=str(service.root))
        context.check_hostname = False
        ftp = ftplib.FTP_TLS(context=context, timeout=10)
        ftp.connect("127.0.0.1", service.files.ftp.port)
        ftp.auth()
        certificate = x509.load_der_x509_certificate(ftp.sock.getpeercert(binary_form=True))
        ftp.close()
        return serial_hex(certificate.serial_number)

    before = served_serial()
    with session_scope(service.ctx.engine) as session:
        issued = issue_server_certificates(session, service.ctx.keystore, fqdn=TEST_FQDN, policy=service.ctx.policy,
                                           urls=service.ctx.urls)
    service.files.reload_tls(TlsMaterial(service.ctx))
    after = served_serial()
    assert after != before and after in {record.serial_hex for record in issued}


def test_ftps_station_verifies_the_server(service, image):
    download = service.download(image)
    with pytest.raises(station.TransferFailed, match="CERTIFICATE_VERIFY_FAILED"):
        station.download(download.ftp_url, ftps=True, ca_file=None, server_hostname=TEST_FQDN)


def test_a_kept_alive_connection_checks_every_request(service):
    """Two uploads on one connection: the second one's own credentials decide, not the first's."""
    import http.client
    import ssl
    from urllib.parse import urlsplit

    first, second = service.upload(), service.upload()
    context = ssl.create_default_context(cafile=str(service.root))
    context.check_hostname = False
    parts = urlsplit(first.https_url)
    connection = http.client.HTTPSConnection(parts.hostname, parts.port, context=context, timeout=10)
    connection.request("PUT", parts.path + "a.log", body=b"first", headers={"Expect": "100-continue"})
    answer = connection.getresponse()
    assert answer.status == 201 and answer.read()   # read whole, so the connection can go on
    wrong = urlsplit(second.https_url).path.replace(second.https_url.split("/")[5], "B" * 43)
    connection.request("PUT", wrong + "b.log", body=b"second")
    answer = connection.getresponse()
    assert answer.status == 401
    connection.close()
    assert service.received(first.grant_id).path.read_bytes() == b"first"
    assert service.received(second.grant_id) is None


# --- the shared pace ([file_transfer] max_megabytes_per_second) ------------------------------

@pytest.fixture
def paced(sqlite_pki) -> Iterator[Service]:
    """1 MB/s for every transfer together, a 100 kB burst."""
    yield from _running(sqlite_pki, max_megabytes_per_second=1)


@pytest.mark.parametrize("ftps", [False, True], ids=["ftp", "ftps"])
def test_uploads_over_both_protocols_share_one_pace_and_arrive_whole(paced, ftps):
    data = {"https": os.urandom(400_000), "ftp": os.urandom(400_000)}
    grants = {protocol: paced.upload(request_id=i) for i, protocol in enumerate(data, 1)}
    start = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        https = pool.submit(station.upload, grants["https"].https_url, data["https"], **paced.tls())
        ftp = pool.submit(station.upload, grants["ftp"].ftp_url, data["ftp"], ftps=ftps,
                          **(paced.tls() if ftps else {}))
        assert (https.result().status, ftp.result().status) == (201, 226)
    elapsed = time.monotonic() - start
    # 800 kB at 1 MB/s with 100 kB at once: at least 0.7 s, whichever protocol moved which part.
    assert elapsed >= 0.65, f"800 kB moved in {elapsed:.2f} s, faster than the 1 MB/s pace allows"
    for protocol, grant in grants.items():
        kept = paced.received(grant.grant_id)
        assert kept.sha256 == _sha(data[protocol]) and kept.protocol == protocol


@pytest.mark.parametrize("protocol", ["https", "ftp"])
def test_downloads_keep_the_pace_and_arrive_whole(paced, tmp_path, protocol):
    image = tmp_path / "image.bin"
    image.write_bytes(os.urandom(600_000))
    locations = paced.download(image)
    start = time.monotonic()
    if protocol == "https":
        _, data = station.download(locations.https_url, **paced.tls())
    else:
        _, data = station.download(locations.ftp_url)
    elapsed = time.monotonic() - start
    assert data == image.read_bytes()
    assert elapsed >= 0.45, f"600 kB downloaded in {elapsed:.2f} s, faster than the 1 MB/s pace allows"



# --- connections without credentials ([file_transfer] login_timeout_seconds, max_connections_per_source)

@pytest.fixture
def strict(sqlite_pki) -> Iterator[Service]:
    """Heads and logins within 1 s, three connections a source, a quiet connection closed after 10 s."""
    yield from _running(sqlite_pki, ConnectionLimits(max_connections=20, per_source=3, idle_timeout=10,
                                                     head_timeout=1))


def _closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> float | None:
    """Sending ``trickle`` a byte every 0.3 s (each well within the idle timeout): how long until
    the server closed the connection, or None if it was still open after ``seconds``."""
    started = time.monotonic()
    sock.settimeout(0.3)
    sent = 0
    while time.monotonic() - started < seconds:
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - started
        except TimeoutError:
            pass
        except OSError:
            return time.monotonic() - started
        if sent < len(trickle):
            try:
                sock.sendall(trickle[sent:sent + 1])
            except OSError:
                return time.monotonic() - started
            sent += 1
    return None


def test_https_a_request_head_sent_a_byte_at_a_time_is_cut_at_the_login_timeout(strict):
    """The idle timeout is per read: a byte every few seconds held a slot for good, no credential needed."""
    import ssl

    context = ssl.create_default_context(cafile=str(strict.root))
    context.check_hostname = False
    with socket.create_connection(("127.0.0.1", strict.files.https.port)) as raw, \
            context.wrap_socket(raw) as tls:
        took = _closed_within(tls, 6, b"GET /files/x/y HTTP/1.1\r\nHost: files\r\nX-Slow: " + b"a" * 100)
    assert took is not None and took < 4, took


def test_https_a_handshake_never_finished_is_cut_at_the_login_timeout(strict):
    with socket.create_connection(("127.0.0.1", strict.files.https.port)) as raw:
        took = _closed_within(raw, 6, b"\x16\x03\x01")   # a TLS record header, and nothing after it
    assert took is not None and took < 4, took


def test_https_one_source_holds_a_bounded_number_of_connections(strict, image):
    held = [socket.create_connection(("127.0.0.1", strict.files.https.port)) for _ in range(3)]
    try:
        with socket.create_connection(("127.0.0.1", strict.files.https.port)) as refused:
            assert _closed_within(refused, 2) is not None   # closed at once, before any TLS work
    finally:
        for sock in held:
            sock.close()
    # Their slots are free again: a station's download works.
    time.sleep(0.3)
    _, data = station.download(strict.download(image).https_url, **strict.tls())
    assert data == image.read_bytes()


def test_ftp_a_session_that_never_logs_in_is_closed_at_the_login_timeout(strict):
    ftp = ftplib.FTP(timeout=10)
    ftp.connect("127.0.0.1", strict.files.ftp.port)
    started = time.monotonic()
    with pytest.raises((ftplib.error_temp, EOFError, OSError)) as ended:
        while time.monotonic() - started < 6:
            ftp.voidcmd("NOOP")   # each well within the idle timeout
            time.sleep(0.3)
    assert time.monotonic() - started < 4
    assert "421" in str(ended.value) or isinstance(ended.value, (EOFError, OSError))
    ftp.close()


def test_ftp_one_source_holds_a_bounded_number_of_sessions(strict):
    sessions = []
    try:
        for _ in range(3):
            ftp = ftplib.FTP(timeout=10)
            ftp.connect("127.0.0.1", strict.files.ftp.port)
            sessions.append(ftp)
        extra = ftplib.FTP(timeout=10)
        with pytest.raises(ftplib.error_temp, match="421"):
            extra.connect("127.0.0.1", strict.files.ftp.port)
        extra.close()
    finally:
        for ftp in sessions:
            ftp.close()


def test_https_answers_503_while_its_database_is_away(sqlite_pki, tmp_path):
    """The credentials could not be checked: the connection was closed without an answer, where
    FTP says 'try later'. A station retries a 503."""
    import http.client
    import ssl
    from urllib.parse import urlsplit

    from fake_connection import unreachable_database

    ctx = sqlite_pki.ctx
    config = FileServiceConfig(public_name="127.0.0.1", https_host="127.0.0.1", https_port=0, ftp_host="127.0.0.1",
                               ftp_port=None)
    files = FileService(unreachable_database(ctx, tmp_path), config, TlsMaterial(ctx)).start()
    root = ctx.settings.data_dir / "root.pem"
    root.write_bytes(sqlite_pki.hierarchy.root.certificate.public_bytes(Encoding.PEM))
    context = ssl.create_default_context(cafile=str(root))
    context.check_hostname = False
    grant = Service(sqlite_pki, files, root).upload()   # made while the database was there
    path = urlsplit(grant.https_url).path
    try:
        for method, body in (("GET", None), ("PUT", b"log")):
            connection = http.client.HTTPSConnection("127.0.0.1", files.https.port, context=context, timeout=10)
            connection.request(method, path, body=body)
            answer = connection.getresponse()
            assert answer.status == 503 and "try again later" in answer.read().decode(), method
            connection.close()
    finally:
        files.stop()
