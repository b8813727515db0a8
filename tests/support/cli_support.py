"""The `chargeca` command in a process of its own, and a data directory `chargeca init` made.

A real `chargeca init` costs a process start and the CA keys (seconds on this machine). Tests
whose subject is not init itself start from a copy of one init this worker ran, with the same
organisation, name and passphrase; the tests about init run it themselves.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from chargeca_process import chargeca

PASSPHRASE = "cli-test-passphrase-123"
INIT = ("init", "--org", "Acme CSO", "--fqdn", "csms.acme.test")


def cli_env(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "CHARGECA_DATA": str(data_dir), "CHARGECA_KEY_PASSPHRASE": PASSPHRASE}
    env.pop("CHARGECA_DATABASE_URL", None)
    return env


@pytest.fixture(scope="session")
def acme_init(tmp_path_factory) -> Path:
    """The data directory of one `chargeca init` (INIT), run once per worker."""
    directory = tmp_path_factory.mktemp("acme-init")
    result = chargeca(*INIT, env=cli_env(directory / "data"), cwd=directory)
    assert result.returncode == 0, result.stderr
    return directory / "data"


def copy_init(acme_init: Path, data_dir: Path) -> None:
    """``data_dir`` as `chargeca init` (INIT) left it: the worker's one, copied (modes kept). A
    directory that exists already (another PKI's keys in it) gets the files added, as init adds them."""
    shutil.copytree(acme_init, data_dir, dirs_exist_ok=True)
