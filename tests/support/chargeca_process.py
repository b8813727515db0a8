"""`chargeca ARGS` in a process of its own, forked from this test worker's zygote
(tests/support/chargeca_zygote.py says why and what differs from exec'ing an interpreter).

``chargeca`` is ``subprocess.run(..., capture_output=True, text=True)``; ``spawn`` is a ``Popen``
(``pid``, ``wait``, ``poll``, ``kill``, ``send_signal``, ``returncode``) whose stdio are the
descriptors given.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

_ZYGOTE = Path(__file__).with_name("chargeca_zygote.py")


class _Zygote:
    def __init__(self) -> None:
        self._directory = tempfile.mkdtemp(prefix="chargeca-zygote-")
        self.path = os.path.join(self._directory, "socket")
        self._process = subprocess.Popen([sys.executable, str(_ZYGOTE), self.path], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True)
        if self._process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the chargeca zygote did not start (exit code {self._process.wait()})")
        atexit.register(self.close)

    def close(self) -> None:
        self._process.stdin.close()   # its cue to exit
        self._process.wait(10)
        self._process.stdout.close()
        shutil.rmtree(self._directory, ignore_errors=True)


_zygote: _Zygote | None = None
_lock = threading.Lock()


def _the_zygote() -> _Zygote:
    global _zygote
    with _lock:
        if _zygote is None or _zygote._process.poll() is not None:
            _zygote = _Zygote()
        return _zygote


class Forked:
    """A forked `chargeca` process, as much of ``subprocess.Popen`` as the tests use."""

    def __init__(self, args: list[str], *, cwd: Path | str, env: Mapping[str, str], stdin: int, stdout: int,
                 stderr: int, umask: int | None = None) -> None:
        self.args = ["chargeca", *args]
        self.returncode: int | None = None
        self._connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._connection.connect(_the_zygote().path)
        request = {"args": list(args), "cwd": str(cwd), "env": dict(env), "umask": umask}
        socket.send_fds(self._connection, [json.dumps(request).encode()], [stdin, stdout, stderr])
        self._connection.shutdown(socket.SHUT_WR)   # the request ends here; the answers come back
        self._received = b""
        self.pid = int(self._line(None))

    def _line(self, timeout: float | None) -> bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._received:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self._connection], [], [], left)[0]:
                raise subprocess.TimeoutExpired(self.args, timeout)
            chunk = self._connection.recv(64)
            if not chunk:
                raise RuntimeError(f"the chargeca zygote went away before {self.args} ended")
            self._received += chunk
        line, self._received = self._received.split(b"\n", 1)
        return line

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = int(self._line(timeout))
            self._connection.close()
        return self.returncode

    def poll(self) -> int | None:
        try:
            return self.wait(0)
        except subprocess.TimeoutExpired:
            return None

    def send_signal(self, number: int) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, number)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    async def wait_async(self, timeout: float | None = None) -> int:
        # The timeout is the thread's own: a wait cancelled from the loop would leave its thread
        # reading the answer beside the next wait's.
        return await asyncio.to_thread(self.wait, timeout)


def spawn(args: list[str], *, cwd: Path | str, env: Mapping[str, str], stdout: int, stderr: int,
          stdin: int | None = None, umask: int | None = None) -> Forked:
    """`chargeca ARGS` started with these descriptors (duplicated into the child; the caller
    closes its own). No ``stdin``: /dev/null."""
    null = os.open(os.devnull, os.O_RDONLY) if stdin is None else None
    try:
        return Forked(args, cwd=cwd, env=env, stdin=null if stdin is None else stdin, stdout=stdout, stderr=stderr,
                      umask=umask)
    finally:
        if null is not None:
            os.close(null)


def chargeca(*args: str, env: Mapping[str, str] | None = None, cwd: Path | str | None = None,
             input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """`chargeca ARGS` to its end, as ``subprocess.run(..., capture_output=True, text=True)``:
    its exit code, stdout and stderr. ``env`` and ``cwd`` default to this process's."""
    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        stdin.write((input or "").encode())
        stdin.seek(0)
        process = spawn(list(args), cwd=cwd or os.getcwd(), env=dict(os.environ if env is None else env),
                        stdin=stdin.fileno(), stdout=stdout.fileno(), stderr=stderr.fileno())
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        stdout.seek(0)
        stderr.seek(0)
        return subprocess.CompletedProcess(process.args, code, stdout.read().decode(errors="replace"),
                                           stderr.read().decode(errors="replace"))


async def start_piped(args: list[str], *, cwd: Path | str,
                      env: Mapping[str, str]) -> tuple[Forked, asyncio.StreamReader]:
    """`chargeca ARGS` with stdout and stderr into one pipe, read as a stream on this loop (as
    ``asyncio.create_subprocess_exec(..., stdout=PIPE, stderr=STDOUT)``)."""
    read_end, write_end = os.pipe()
    try:
        process = spawn(args, cwd=cwd, env=env, stdout=write_end, stderr=write_end)
    finally:
        os.close(write_end)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_end, "rb", 0))
    return process, reader
