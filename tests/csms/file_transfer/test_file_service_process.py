"""The file service as `chargeca serve` runs it: in a niced child process, same grants, same store."""

from __future__ import annotations

import os
import socket
import sys
from datetime import timedelta

import pytest
from conftest import TEST_FQDN
from cryptography.hazmat.primitives.serialization import Encoding

from api.core.audit import run_in_session
from api.csms.file_transfer import grant_download, grant_upload, received_file
from api.csms.file_transfer.process import NICENESS, FileServiceError, FileServiceProcess
from api.csms.file_transfer.service import FileServiceConfig
from simulator import file_transfer as station

CONFIG = FileServiceConfig(public_name="127.0.0.1", https_host="127.0.0.1", https_port=0, ftp_host="127.0.0.1",
                           ftp_port=0, own_process=True)


def test_the_child_serves_downloads_and_uploads_and_stops(sqlite_pki, tmp_path):
    ctx = sqlite_pki.ctx
    root = tmp_path / "root.pem"
    root.write_bytes(sqlite_pki.hierarchy.root.certificate.public_bytes(Encoding.PEM))
    image = tmp_path / "image.bin"
    image.write_bytes(os.urandom(50_000))
    files = FileServiceProcess(ctx, CONFIG).start()
    try:
        child = files._process
        assert child is not None and child.pid != os.getpid()
        assert os.getpriority(os.PRIO_PROCESS, child.pid) >= os.getpriority(os.PRIO_PROCESS, 0) + NICENESS
        if sys.platform == "linux":
            # Every thread of it, the servers' included: an OCPP process that wakes preempts them at once.
            threads = [int(tid) for tid in os.listdir(f"/proc/{child.pid}/task")]
            assert len(threads) > 1
            assert {os.sched_getscheduler(tid) for tid in threads} == {os.SCHED_IDLE}
        down = run_in_session(ctx, lambda s: grant_download(s, files.endpoints, station_id="CS-1", path=image,
                                                            purpose="firmware", request_id=1, ttl=timedelta(minutes=1)))
        assert station.download(down.https_url, ca_file=root, server_hostname=TEST_FQDN)[1] == image.read_bytes()
        up = run_in_session(ctx, lambda s: grant_upload(s, files.endpoints, station_id="CS-1", purpose="log",
                                                        request_id=2, max_bytes=1000, ttl=timedelta(minutes=1)))
        station.upload(up.ftp_url, b"log line\n")
        kept = run_in_session(ctx, lambda s: received_file(s, up.grant_id, ctx.settings.data_dir))
        assert kept.path.read_bytes() == b"log line\n"
    finally:
        files.stop()
    assert not child.is_alive()


def test_a_child_that_cannot_listen_is_reported(sqlite_pki):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = FileServiceConfig(public_name="127.0.0.1", https_host="127.0.0.1", https_port=taken.getsockname()[1],
                                   ftp_host="127.0.0.1", ftp_port=None, own_process=True)
        with pytest.raises(FileServiceError, match="Address already in use"):
            FileServiceProcess(sqlite_pki.ctx, config).start()
