"""The `chargeca` command as an officer runs it: real processes, exit codes, one-line reasons."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from csr_factory import openssl_csr
from softhsm import TOKEN_PIN

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


def test_init_with_a_pkcs11_token_keeps_ca_keys_in_it(run, tmp_path: Path, softhsm_token):
    token_env = {"SOFTHSM2_CONF": os.environ["SOFTHSM2_CONF"]}
    token_args = ("--keystore", "pkcs11", "--module", str(softhsm_token.module),
                  "--token-label", softhsm_token.token_label)
    incomplete = run("init", "--org", "Acme CSO", "--fqdn", "csms.acme.test", *token_args, extra_env=token_env)
    assert incomplete.returncode == 2 and "--pin-file" in incomplete.stderr
    os.chmod(softhsm_token.pin_file, 0o640)
    loose = run("init", "--org", "Acme CSO", "--fqdn", "csms.acme.test", *token_args,
                "--pin-file", str(softhsm_token.pin_file), extra_env=token_env)
    assert loose.returncode == 3 and "mode 0640" in loose.stderr, loose.stderr
    os.chmod(softhsm_token.pin_file, 0o600)

    init = run("init", "--org", "Acme CSO", "--fqdn", "csms.acme.test", *token_args,
               "--pin-file", str(softhsm_token.pin_file), extra_env=token_env)
    assert init.returncode == 0, init.stderr
    config = (tmp_path / "data" / "config.toml").read_text()
    assert 'backend = "pkcs11"' in config and softhsm_token.token_label in config
    key_files = sorted(p.name for p in (tmp_path / "data" / "keys").iterdir())
    assert key_files and all(name.startswith("server-") for name in key_files), \
        f"only the TLS server keys are files, the CA keys are in the token: {key_files}"

    # Later commands find the token from config.toml alone.
    csr = tmp_path / "cp1.csr"
    csr.write_text(openssl_csr(tmp_path, "CP-1", "Acme CSO", "ec-p256"))
    assert run("station", "add", "CP-1", "--security-profile", "3", extra_env=token_env).returncode == 0
    signed = run("cert", "sign", "--station", "CP-1", "--csr", str(csr), extra_env=token_env)
    assert signed.returncode == 0, signed.stderr
    chain_file = tmp_path / "chain.pem"
    chain_file.write_text(signed.stdout)
    crl_file = tmp_path / "crl.pem"
    crl = run("crl", extra_env=token_env)
    assert crl.returncode == 0, crl.stderr
    crl_file.write_text(crl.stdout)
    station_ca = tmp_path / "station-ca.pem"
    station_ca.write_bytes(x509.load_pem_x509_certificates(signed.stdout.encode())[1].public_bytes(
        serialization.Encoding.PEM))
    verified = subprocess.run(["openssl", "crl", "-in", str(crl_file), "-CAfile", str(station_ca), "-noout"],
                              capture_output=True, text=True)
    assert verified.returncode == 0 and "verify OK" in verified.stderr, verified.stderr

    outputs = init.stdout + init.stderr + signed.stderr + run("audit", "list", extra_env=token_env).stdout
    assert TOKEN_PIN not in outputs and TOKEN_PIN not in config
