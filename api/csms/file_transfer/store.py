"""Where transferred files live on disk, and the one way an upload is received (both servers).

Layout under the data directory: ``files/incoming/`` (uploads while they arrive, never read),
``files/received/<purpose>/<grant>/<name>`` (complete uploads, one directory per grant),
``files/ftp/<grant>/`` (an FTP user's home: empty for an upload, one link to the stored file
for a download). An upload is counted and hashed as it arrives and written to a temporary file;
past the grant's limit it stops at once and the temporary file is deleted. Only a complete upload
becomes a file under ``received/`` and a row, in that order, and the grant is used up in the same
transaction that writes the row: a crash between leaves an orphan file, never a row without file.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import shutil
from pathlib import Path

from sqlalchemy.engine import Engine

from api.csms.file_transfer.grants import Received, Refused, claim_upload, received_file, record_received, safe_name
from storage.db import session_scope
from storage.file_transfer import FileGrant


class TooLarge(OSError):
    """Written past the grant's limit (an OSError so that pyftpdlib aborts the transfer)."""

    def __init__(self, limit: int) -> None:
        super().__init__(errno.EFBIG, f"upload exceeds its limit of {limit} bytes")
        self.limit = limit


class FileStore:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.root = data_dir / "files"
        self.incoming = self.root / "incoming"
        self.received = self.root / "received"
        self.ftp_homes = self.root / "ftp"
        for directory in (self.incoming, self.received, self.ftp_homes):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def receive(self, grant: FileGrant) -> Receiving:
        assert grant.max_bytes is not None
        return Receiving(self, grant.id, grant.max_bytes)

    def ftp_home(self, grant: FileGrant) -> Path:
        """The FTP user's home: created on first login; for a download it holds one hard link to
        the stored file (a copy if the file is on another file system), under the grant's name."""
        home = self.ftp_homes / grant.id
        home.mkdir(mode=0o700, exist_ok=True)
        if grant.blob_path:
            target = home / grant.file_name
            if not target.exists():
                try:
                    os.link(grant.blob_path, target)
                except OSError:
                    shutil.copyfile(grant.blob_path, target)
        return home

    def remove_ftp_home(self, grant_id: str) -> None:
        shutil.rmtree(self.ftp_homes / grant_id, ignore_errors=True)


class Receiving:
    """One upload while it arrives: ``write`` each chunk, then ``finish`` or ``abort``."""

    def __init__(self, store: FileStore, grant_id: str, limit: int) -> None:
        self.store = store
        self.grant_id = grant_id
        self.limit = limit
        self.size = 0
        self._hash = hashlib.sha256()
        self.temp = store.incoming / f"{grant_id}.{secrets.token_hex(6)}.part"
        self._file = open(self.temp, "xb")  # noqa: SIM115 - closed by finish/abort

    def write(self, chunk: bytes) -> int:
        self.size += len(chunk)
        if self.size > self.limit:
            self.abort()
            raise TooLarge(self.limit)
        self._hash.update(chunk)
        return self._file.write(chunk)

    # pyftpdlib treats the receiving object as a file
    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed

    @property
    def name(self) -> str:
        return str(self.temp)

    def abort(self) -> None:
        self.close()
        self.temp.unlink(missing_ok=True)

    def finish(self, engine: Engine, file_name: str | None, protocol: str) -> Received:
        """Keep the complete upload: move it under ``received/``, use the grant up, write the row.
        ``Refused`` (and nothing kept) when the grant was used, revoked or expired meanwhile."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self.close()
        name = safe_name(file_name, "upload")
        final: Path | None = None
        try:
            with session_scope(engine) as session:
                grant = claim_upload(session, self.grant_id)
                directory = self.store.received / safe_name(grant.purpose, "files") / grant.id
                directory.mkdir(parents=True, exist_ok=True, mode=0o700)
                final = directory / name
                os.replace(self.temp, final)
                record_received(session, grant, file_name=name,
                                relative_path=str(final.relative_to(self.store.data_dir)), size=self.size,
                                sha256=self._hash.hexdigest(), protocol=protocol)
        except BaseException:
            # The row and the grant's use roll back together; the file must go with them.
            self.temp.unlink(missing_ok=True)
            if final is not None:
                final.unlink(missing_ok=True)
            raise
        with session_scope(engine) as session:
            received = received_file(session, self.grant_id, self.store.data_dir)
        if received is None:  # pragma: no cover - written just above
            raise Refused(500, "upload not recorded")
        return received
