"""The station's side of GetLog (N01): answer, then report Uploading, upload the log to the
remoteLocation it was given (simulator/file_transfer.py), report Uploaded or UploadFailure.

A GetLog that arrives while an upload runs is answered AcceptedCanceled: the running upload
stops, its request gets LogStatusNotification AcceptedCanceled, then the new one runs (N01.FR.12).
``hold`` keeps an upload between Uploading and the transfer until it is set (to put a second
request in the middle of one, TC_N_36): the one in place when the upload starts, whatever ``hold``
is by the time its Uploading report is answered; ``answer`` makes the station refuse (TC_N_34).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator import file_transfer

if TYPE_CHECKING:
    from simulator.station import SimulatedStation


def sample_log(log_type: str, request_id: int, size: int = 64 * 1024) -> bytes:
    """A log of ``size`` bytes whose lines name the request, so a mix-up would show."""
    line = f"2025-01-01T00:00:00Z {log_type} request {request_id}: entry\n".encode()
    return (line * (size // len(line) + 1))[:size]


class LogUploads:
    def __init__(self, station: SimulatedStation, *, ca_file: str | Path | None = None,
                 server_hostname: str | None = None, answer: str = "Accepted",
                 content: Callable[[str, int], bytes | Path] = sample_log, file_name: str = "station.log",
                 http_options: dict[str, Any] | None = None, write_size: int = file_transfer.WRITE_SIZE) -> None:
        self.station = station
        self.write_size = write_size
        self.ca_file = ca_file
        self.server_hostname = server_hostname
        self.answer = answer
        self.content = content
        self.file_name = file_name
        self.http_options = http_options or {}
        self.hold: asyncio.Event | None = None
        self.uploaded: dict[int, file_transfer.Transferred] = {}
        # Every LogStatusNotification sent: (requestId, status, the CSMS's answer).
        self.reports: list[tuple[int, str, dict[str, Any]]] = []
        self.failed: dict[int, file_transfer.TransferFailed] = {}
        self._current: asyncio.Task | None = None
        self._current_id: int | None = None
        station.handlers["GetLog"] = self.get_log

    def get_log(self, station: SimulatedStation, payload: dict[str, Any]) -> dict[str, Any]:
        if self.answer != "Accepted":
            return {"status": self.answer}
        request_id, url = payload["requestId"], payload["log"]["remoteLocation"]
        cancelled: int | None = None
        if self._current is not None and not self._current.done():
            self._current.cancel()
            cancelled = self._current_id
        started = asyncio.Event()

        async def follow_up() -> None:
            self._current, self._current_id = asyncio.current_task(), request_id
            started.set()
            await self._run(payload["logType"], request_id, url, cancelled)
        # The current upload is this one from the answer on (a third GetLog cancels it even if
        # its follow-up has not started yet).
        self._current_id = request_id
        station.after_reply(follow_up)
        return {"status": "AcceptedCanceled" if cancelled is not None else "Accepted", "filename": self.file_name}

    async def _report(self, status: str, request_id: int) -> None:
        answer = await self.station.call("LogStatusNotification", {"status": status, "requestId": request_id})
        self.reports.append((request_id, status, answer))

    async def _run(self, log_type: str, request_id: int, url: str, cancelled: int | None) -> None:
        hold = self.hold
        if cancelled is not None:
            await self._report("AcceptedCanceled", cancelled)
        await self._report("Uploading", request_id)
        if hold is not None:
            await hold.wait()
        try:
            sent = await file_transfer.upload_async(
                url, self.content(log_type, request_id), ca_file=self.ca_file, server_hostname=self.server_hostname,
                file_name=self.file_name, write_size=self.write_size,
                **({} if url.startswith("ftp") else self.http_options))
        except file_transfer.TransferFailed as failure:
            self.failed[request_id] = failure
            await self._report("UploadFailure", request_id)
            return
        self.uploaded[request_id] = sent
        await self._report("Uploaded", request_id)

    async def idle(self) -> None:
        """Wait for the running upload (if any) to end."""
        if self._current is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._current
