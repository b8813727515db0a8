"""The README's profile-3 quickstart, run as written: its ```sh blocks between the quickstart
markers, in a fresh directory whose .venv is this one, against `chargeca serve` started the way
the README's first command starts it. Only the ports differ, through the CHARGECA_* variables the
README names, so that tests can run side by side."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from serve_support import Ports, start_serve

README = Path(__file__).resolve().parents[2] / "README.md"
_SECTION = re.compile(r"<!-- quickstart:begin -->(.*?)<!-- quickstart:end -->", re.S)
_SH_BLOCK = re.compile(r"```sh\n(.*?)```", re.S)


def quickstart_commands(readme: str) -> str:
    section = _SECTION.search(readme)
    assert section, "the README has a quickstart section between its markers"
    blocks = _SH_BLOCK.findall(section.group(1))
    assert blocks, "the quickstart has sh blocks"
    return "".join(blocks)


def test_readme_quickstart_runs_as_written(tmp_path):
    script = quickstart_commands(README.read_text(encoding="utf-8"))
    # The README's first command made .venv in the checkout; here it is the venv running the tests.
    (tmp_path / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    assert (tmp_path / ".venv" / "bin" / "chargeca").exists()
    ports = Ports()
    served = start_serve(tmp_path, ports, command=[".venv/bin/chargeca"])
    try:
        served.wait_running()
        shell = subprocess.Popen(["bash", "-e", "-c", script], cwd=tmp_path, env=ports.env(), text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            stdout, stderr = shell.communicate(timeout=180)
        finally:
            if shell.poll() is None:
                os.killpg(shell.pid, signal.SIGKILL)
                shell.wait()
    finally:
        served.stop()
    assert shell.returncode == 0, stdout + stderr
    assert "station CP_P3 registered (security profile 3)" in stdout
    assert "CP_P3: booted (security profile 3" in stdout
    assert "booted 1/1" in stdout
    listed = json.loads(re.search(r"^\[$.*?^\]$", stdout, re.M | re.S).group(0))
    assert [(c["station_id"], c["security_profile"], c["boot_status"]) for c in listed] == [("CP_P3", 3, "Accepted")]
    assert listed[0]["client_certificate_serial"]
    assert (tmp_path / "root.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
