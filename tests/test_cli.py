"""The `chargeca` command as an officer runs it: real processes, exit codes, one-line reasons."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from csr_factory import openssl_csr

CLI = [sys.executable, "-m", "api.cli"]


@pytest.fixture
def run(tmp_path):
    env = {**os.environ, "CHARGECA_DATA": str(tmp_path / "data"),
           "CHARGECA_KEY_PASSPHRASE": "cli-test-passphrase-123"}
    env.pop("CHARGECA_DATABASE_URL", None)

    def _run(*args: str, stdin: str | None = None, extra_env: dict | None = None):
        return subprocess.run([*CLI, *args], capture_output=True, text=True, input=stdin,
                              env={**env, **(extra_env or {})}, cwd=tmp_path, timeout=120)
    return _run


def test_officer_workflow(run, tmp_path: Path):
    init = run("init", "--org", "Acme CSO", "--fqdn", "csms.acme.test")
    assert init.returncode == 0, init.stderr
    again = run("init", "--org", "Other", "--fqdn", "other.test")
    assert again.returncode == 1
    assert "already exists" in again.stderr and len(again.stderr.strip().splitlines()) == 1

    added = run("station", "add", "CP-1", "--security-profile", "2")
    assert added.returncode == 0
    password = added.stdout.strip().splitlines()[-1].rsplit(" ", 1)[-1]
    assert 16 <= len(password) <= 40
    assert password not in run("audit", "list").stdout, "the password never reaches the audit log"

    csr = tmp_path / "cp1.csr"
    csr.write_text(openssl_csr(tmp_path, "CP-1", "Acme CSO", "ec-p256"))
    signed = run("cert", "sign", "--station", "CP-1", "--csr", str(csr))
    assert signed.returncode == 0, signed.stderr
    chain = x509.load_pem_x509_certificates(signed.stdout.encode())
    assert len(chain) == 2 and chain[0].subject.rfc4514_string() == "CN=CP-1,O=Acme CSO"
    serial = format(chain[0].serial_number, "x")

    listed = run("cert", "list", "--station", "CP-1")
    assert serial in listed.stdout

    revoked = run("cert", "revoke", serial, "--reason", "keyCompromise")
    assert revoked.returncode == 0, revoked.stderr
    crl = x509.load_pem_x509_crl(run("crl").stdout.encode())
    assert crl.get_revoked_certificate_by_serial_number(chain[0].serial_number) is not None

    token = run("token", "create", "--role", "auditor")
    assert token.returncode == 0 and token.stdout.strip().splitlines()[-1].startswith("cca_")

    verified = run("audit", "verify")
    assert verified.returncode == 0 and "intact" in verified.stdout


@pytest.mark.parametrize("args, code, message", [
    (("cert", "sign", "--station", "CP-1", "--csr", "missing.csr"), 1, "cannot read CSR"),
    (("cert", "revoke", "abc", "--reason", "bored"), 1, "keyCompromise"),
    (("cert", "revoke", "zz-not-hex", "--reason", "keyCompromise"), 1, "not a hexadecimal serial"),
    (("cert", "revoke", "123456", "--reason", "keyCompromise"), 1, "no certificate with serial"),
    (("station", "add", "bad:id"), 1, "identifierString"),
    (("token", "create", "--role", "root"), 2, "invalid choice"),
])
def test_refusals_exit_non_zero_with_one_line(run, args, code, message):
    assert run("init", "--org", "Acme CSO", "--fqdn", "csms.acme.test").returncode == 0
    result = run(*args)
    assert result.returncode == code
    assert message in result.stderr


def test_invalid_fqdn_is_refused_before_anything_is_created(run, tmp_path):
    for bad in ("not a host", "localhost", "*.acme.test", "10.0.0.1"):
        result = run("init", "--org", "Acme CSO", "--fqdn", bad)
        assert result.returncode == 1 and "fqdn." in result.stderr, bad
    assert not list((tmp_path / "data").glob("keys/*")), "no key was generated for a refused init"
    assert run("init", "--org", "Acme CSO", "--fqdn", "csms.acme.test").returncode == 0


def test_wrong_csr_identity_is_refused_with_its_rule(run, tmp_path):
    run("init", "--org", "Acme CSO", "--fqdn", "csms.acme.test")
    run("station", "add", "CP-1", "--security-profile", "3")
    csr = tmp_path / "other.csr"
    csr.write_text(openssl_csr(tmp_path, "CP-2", "Acme CSO", "rsa-2048"))
    result = run("cert", "sign", "--station", "CP-1", "--csr", str(csr))
    assert result.returncode == 1
    assert "csr.subject.cn" in result.stderr and result.stdout == ""


def test_missing_passphrase_and_pki_are_setup_errors(run):
    no_pass = run("init", "--org", "A", "--fqdn", "a.test", extra_env={"CHARGECA_KEY_PASSPHRASE": ""})
    assert no_pass.returncode == 3 and "CHARGECA_KEY_PASSPHRASE" in no_pass.stderr
    assert run("crl").returncode == 3


def test_wrong_passphrase_is_refused_without_damage(run):
    assert run("init", "--org", "Acme CSO", "--fqdn", "csms.acme.test").returncode == 0
    run("station", "add", "CP-1", "--security-profile", "3")
    result = run("crl", extra_env={"CHARGECA_KEY_PASSPHRASE": "a-different-passphrase"})
    assert result.returncode == 3 and "wrong passphrase" in result.stderr
    assert run("crl").returncode == 0


def test_database_down_exit_code(run):
    result = run("station", "list", extra_env={"CHARGECA_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert result.returncode == 4 and "database unavailable" in result.stderr


def test_station_kill_switch_and_delete(run):
    assert run("init", "--org", "Acme CSO", "--fqdn", "csms.acme.test").returncode == 0
    assert run("station", "add", "CP-9", "--security-profile", "2").returncode == 0

    disabled = run("station", "disable", "CP-9", "--reason", "stolen cabinet")
    assert disabled.returncode == 0, disabled.stderr
    assert "enabled=False" in run("station", "list").stdout
    assert run("station", "enable", "CP-9").returncode == 0

    deleted = run("station", "delete", "CP-9", "--reason", "decommissioned")
    assert deleted.returncode == 0 and "deleted" in deleted.stdout
    again = run("station", "delete", "CP-9")
    assert again.returncode == 1 and "not registered" in again.stderr
    log = run("audit", "list", "--limit", "200").stdout
    for action in ("station.disable", "station.enable", "station.delete"):
        assert action in log


def test_station_password_from_stdin_or_file_and_profile(run, tmp_path: Path):
    assert run("init", "--org", "Acme CSO", "--fqdn", "csms.acme.test").returncode == 0
    assert run("station", "add", "CP-9", "--security-profile", "2").returncode == 0

    password = "Factory-Provisioned-0123456789"
    assert run("station", "set-password", "CP-9", "--password-stdin", stdin=password + "\n").returncode == 0
    secret = tmp_path / "cp9.password"
    secret.write_text("short\n")
    weak = run("station", "set-password", "CP-9", "--password-file", str(secret))
    assert weak.returncode == 1 and "password must have" in weak.stderr
    no_source = run("station", "set-password", "CP-9", password)
    assert no_source.returncode == 2, "a password is never taken from the command line"

    lower = run("station", "set-profile", "CP-9", "1")
    assert lower.returncode == 1 and "reason" in lower.stderr
    lowered = run("station", "set-profile", "CP-9", "1", "--reason", "lab bench")
    assert lowered.returncode == 0 and "security profile 1" in lowered.stdout
    log = run("audit", "list", "--limit", "200").stdout
    assert "station.password.set" in log and "station.security_profile.set" in log
    assert password not in log
