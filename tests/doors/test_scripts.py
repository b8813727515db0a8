"""Every script under scripts/ still starts: a renamed helper once left bench_device_model.py and
bench_relay.py failing at their first import (ImportError: fresh_database), unnoticed until a
benchmark was due. A script with a command line answers --help; a helper that other scripts run
or import (a load generator reading its orders from stdin, a shared module) imports cleanly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a fresh interpreter per script

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
COMMANDS = sorted(path.name for path in SCRIPTS.glob("*.py") if "ArgumentParser(" in path.read_text("utf-8"))
HELPERS = sorted(path.name for path in SCRIPTS.glob("*.py") if path.name not in COMMANDS)


def test_the_scripts_are_found():
    assert "bench_gateway.py" in COMMANDS and "rotate_csms_root.py" in COMMANDS
    assert "scratch_database.py" in HELPERS


@pytest.mark.parametrize("script", COMMANDS)
def test_a_script_answers_help(script):
    done = subprocess.run([sys.executable, str(SCRIPTS / script), "--help"], capture_output=True, text=True,
                          timeout=120, cwd=SCRIPTS.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage:"), done.stdout[:500]


def test_the_helpers_import():
    # Imported, not run: their __main__ part waits for orders on stdin or a port.
    names = [name.removesuffix(".py") for name in HELPERS]
    program = (f"import sys; sys.path[:0] = [{str(SCRIPTS)!r}, {str(SCRIPTS.parent)!r}]\n"
               f"for name in {names!r}: __import__(name)")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120,
                          cwd=SCRIPTS.parent)
    assert done.returncode == 0, done.stderr[-2000:]
