"""`chargeca firmware`: an officer signs a CSO's own build with ChargeCA's firmware-signing key,
exports the manufacturer root to install on stations, registers a manufacturer's image (a bad
signature refused by name, nothing kept), and plans, starts, shows and stops a campaign."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from chargeca_process import chargeca
from cli_support import acme_init, cli_env, copy_init  # noqa: F401 - fixture
from cryptography import x509
from pki_fixtures import make_leaf, make_root


@pytest.fixture
def run(acme_init, tmp_path):  # noqa: F811
    copy_init(acme_init, tmp_path / "data")

    def _run(*args: str):
        return chargeca(*args, env=cli_env(tmp_path / "data"), cwd=tmp_path)
    return _run


def test_firmware_from_the_command_line(run, tmp_path: Path):
    image = tmp_path / "build.bin"
    image.write_bytes(os.urandom(50_000))

    signed = run("firmware", "sign", str(image), "--name", "Depot charger", "--version", "3.1.0")
    assert signed.returncode == 0, signed.stderr
    assert "image 1\tDepot charger 3.1.0\t50000 bytes" in signed.stdout and "signed by chargeca" in signed.stdout
    # Into a directory that is not there: named, with no traceback (it was a FileNotFoundError's).
    nowhere = run("firmware", "signer", "--out", str(tmp_path / "missing" / "root.pem"))
    assert nowhere.returncode == 1 and "cannot write" in nowhere.stderr and "Traceback" not in nowhere.stderr
    exported = run("firmware", "signer", "--out", str(tmp_path / "root.pem"))
    assert exported.returncode == 0, exported.stderr
    root = x509.load_pem_x509_certificate((tmp_path / "root.pem").read_bytes())
    assert "Manufacturer Root" in root.subject.rfc4514_string()
    assert "\tTrue\t" in run("firmware", "root", "list").stdout

    maker = make_root("ec", serial=0x6101)
    signer = make_leaf(maker, "ec", serial=0x6102)
    (tmp_path / "maker.pem").write_bytes(maker.pem)
    (tmp_path / "signer.pem").write_bytes(signer.pem)
    (tmp_path / "bad.sig").write_text(base64.b64encode(b"\x30" * 70).decode())
    assert run("firmware", "root", "add", str(tmp_path / "maker.pem")).returncode == 0
    bad = run("firmware", "add", str(image), "--name", "Maker", "--version", "9", "--signature",
              str(tmp_path / "bad.sig"), "--certificate", str(tmp_path / "signer.pem"))
    assert bad.returncode == 1 and "firmware.signature.invalid" in bad.stderr
    listed = run("firmware", "list").stdout.splitlines()
    assert len(listed) == 2 and listed[1].startswith("1\tDepot charger\t3.1.0")

    assert run("station", "add", "DEPOT-1").returncode == 0
    plan = run("firmware", "campaign", "create", "1", "--filter", "DEPOT-*", "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout.startswith("DEPOT-1\trefused\tfirmware.root_not_installed")
    made = run("firmware", "campaign", "create", "1", "--filter", "DEPOT-*", "--per-minute", "5")
    assert made.returncode == 0 and made.stdout.startswith("campaign 1\timage 1\tDEPOT-*\trunning\t1 waiting")
    assert "DEPOT-1\twaiting" in run("firmware", "campaign", "show", "1").stdout
    stopped = run("firmware", "campaign", "stop", "1")
    assert stopped.returncode == 0 and "\tstopped\t" in stopped.stdout
