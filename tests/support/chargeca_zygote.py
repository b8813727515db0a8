"""A process that has imported `chargeca` once and forks one child per command the tests run.

Every `chargeca` process the suite starts (hundreds: the CLI's tests, crash recovery, the cluster's
nodes) spent ~90 % of a CLI command's CPU importing the same modules. A child forked from this
process is still a process of its own, with its own pid, descriptors, environment, working
directory and exit status, killed by a real SIGKILL, running `api.cli`'s main as `python -m api.cli` does and
ending through the interpreter's normal shutdown; only the imports are already done. Tests whose
subject is the interpreter's own start (the README's commands, `serve --workers`) exec a fresh one.

Protocol (tests/support/chargeca_process.py is the client): one AF_UNIX connection per command,
carrying one JSON request and the child's stdin, stdout and stderr descriptors; the answer is the
child's pid, then, once the child has ended, its return code (negative: killed by that signal).

    python tests/support/chargeca_zygote.py SOCKET
"""

from __future__ import annotations

import gc
import io
import json
import os
import select
import socket
import sys
import threading

# What `chargeca serve` imports only once it runs (the REST application and its routers, the file
# service) is preloaded too: a cluster node's start paid more in imports than in its own work. So
# is what a first run or a cluster node imports late: alembic (migrations), psycopg, the cluster.
PRELOADED = ("api.cli", "api.server", "api.stack", "api.rest.app", "api.rest.serving",
             "api.csms.file_transfer.service", "api.csms.file_transfer.process", "simulator.fleet",
             "alembic.command", "psycopg", "api.cluster.node")


def _serve(path: str) -> dict:
    """Accept requests until one is forked: returns the request in the child, never in this process."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    print("ready", flush=True)
    children: dict[int, socket.socket] = {}
    while True:
        readable, _, _ = select.select([listener, sys.stdin], [], [], 0.02)
        _reap(children)
        if sys.stdin in readable and not os.read(sys.stdin.fileno(), 1):
            sys.exit(0)   # the test process that started this one has gone
        if listener not in readable:
            continue
        connection, _ = listener.accept()
        message, fds, _, _ = socket.recv_fds(connection, 1 << 16, 3)
        while chunk := connection.recv(1 << 16):   # the rest of a long request, up to the client's EOF
            message += chunk
        request = json.loads(message)
        # Forking with a thread running would leave the child a lock its owner never releases.
        assert threading.active_count() == 1, "the zygote must stay single-threaded"
        pid = os.fork()
        if pid == 0:
            listener.close()
            for other in children.values():
                other.close()
            connection.close()
            request["fds"] = fds
            return request
        for fd in fds:
            os.close(fd)
        connection.sendall(f"{pid}\n".encode())
        children[pid] = connection


def _reap(children: dict[int, socket.socket]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        connection = children.pop(pid)
        try:
            connection.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
        except OSError:
            pass  # the test went away without waiting
        connection.close()


def _become(request: dict) -> None:
    """This child as `python -m api.cli ARGS` started with the request's stdio, cwd, environment."""
    stdin, stdout, stderr = request["fds"]
    for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
        os.dup2(fd, target)
    for fd in os.listdir("/proc/self/fd"):
        if int(fd) > 2:
            try:
                os.close(int(fd))
            except OSError:
                pass
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    if request.get("umask") is not None:
        os.umask(request["umask"])
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    # The interpreter made these at its start for the zygote's descriptors: made again, as a
    # fresh interpreter would for these (a pipe is block-buffered unless PYTHONUNBUFFERED).
    sys.stdin = open(0, "r", closefd=False, encoding="utf-8")
    sys.stdout = io.TextIOWrapper(open(1, "wb", buffering=0, closefd=False), encoding="utf-8",
                                  write_through=True) if unbuffered else open(1, "w", closefd=False, encoding="utf-8")
    sys.stderr = open(2, "w", closefd=False, encoding="utf-8", errors="backslashreplace", buffering=1)
    sys.argv = ["chargeca", *request["args"]]
    sys.path[0] = os.getcwd()   # as `python -m` puts it


def main() -> None:
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for module in PRELOADED:
        __import__(module)
    from api.ocpp.validation import schemas

    schemas()   # compiled once here, not at every gateway's start (a quarter of a node's start)
    from pki.lint import lint_certificate

    lint_certificate(b"")   # builds the linter (pkilint's loader: a sixth of the children's CPU)
    # Out of the collector's sight: a child's shutdown would otherwise walk (and copy, page by
    # page) every object the imports made: 0.85 s a child, against 0.14 s frozen.
    gc.freeze()
    request = _serve(sys.argv[1])
    if request["args"][:1] == ["serve"]:
        # A server freezes what its own start built (api/server.py) and tunes the collector for
        # itself; handed this process's frozen heap, it served REST calls many times slower
        # (scripts/bench_relay.py at 50 calls/s: p50 3-5 s, against 23-30 ms unfrozen).
        gc.unfreeze()
    _become(request)
    from api.cli import main as chargeca

    sys.exit(chargeca())   # what `python -m api.cli` runs as __main__


if __name__ == "__main__":
    main()
