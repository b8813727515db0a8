"""storage/fdatasync_helper.py, run the same way, recording after each fdatasync the entries in
the file (one JSON list a line) in the file named by OBSERVED_FDATASYNC_RECORD: the journal's
durable points as the helper process reaches them (tests/support/durable_writes.py)."""

import json
import os
import runpy
import sys
from pathlib import Path

HELPER = Path(__file__).resolve().parents[2] / "storage" / "fdatasync_helper.py"
RECORD = os.environ["OBSERVED_FDATASYNC_RECORD"]

fdatasync = os.fdatasync


def recorded_fdatasync(fd: int) -> None:
    fdatasync(fd)
    entries = os.pread(fd, 1 << 20, 0).split(b"\0")[0].decode().splitlines()
    with open(RECORD, "a") as record:
        record.write(json.dumps(entries) + "\n")


os.fdatasync = recorded_fdatasync
runpy.run_path(str(HELPER), run_name="helper")["main"](int(sys.argv[1]))
