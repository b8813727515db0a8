"""The `chargeca` command as an officer runs it: real processes, exit codes, one-line reasons."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest
from chargeca_process import chargeca, spawn
from cli_support import acme_init, cli_env, copy_init  # noqa: F401 - fixture
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from csr_factory import openssl_csr
from softhsm import TOKEN_PIN


@pytest.fixture
def run(tmp_path):
    env = {**os.environ, "CHARGECA_DATA": str(tmp_path / "data"),
           "CHARGECA_KEY_PASSPHRASE": "cli-test-passphrase-123"}
    env.pop("CHARGECA_DATABASE_URL", None)

    def _run(*args: str, stdin: str | None = None, extra_env: dict | None = None, timeout: float = 120):
        return chargeca(*args, input=stdin, env={**env, **(extra_env or {})}, cwd=tmp_path, timeout=timeout)
    return _run


@pytest.fixture
def initialised(acme_init, tmp_path) -> None:  # noqa: F811
    """The test's data directory as `chargeca init --org "Acme CSO" --fqdn csms.acme.test` made it."""
    copy_init(acme_init, tmp_path / "data")


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
    expiring = run("token", "create", "--role", "auditor", "--valid-days", "30")
    assert expiring.returncode == 0 and ", expires " in expiring.stdout

    verified = run("audit", "verify")
    assert verified.returncode == 0 and "intact" in verified.stdout


@pytest.mark.parametrize("args, code, message", [
    (("cert", "sign", "--station", "CP-1", "--csr", "missing.csr"), 1, "cannot read CSR"),
    (("cert", "revoke", "abc", "--reason", "bored"), 1, "keyCompromise"),
    (("cert", "revoke", "zz-not-hex", "--reason", "keyCompromise"), 1, "not a hexadecimal serial"),
    (("cert", "revoke", "123456", "--reason", "keyCompromise"), 1, "no certificate with serial"),
    (("station", "add", "bad:id"), 1, "identifierString"),
    (("token", "create", "--role", "root"), 2, "invalid choice"),
    (("token", "create", "--role", "auditor", "--valid-days", "0"), 2, "--valid-days"),
    (("token", "create", "--role", "auditor", "--name", "n" * 101), 1, "1 to 100 characters"),
])
@pytest.mark.usefixtures("initialised")
def test_refusals_exit_non_zero_with_one_line(run, args, code, message):
    result = run(*args)
    assert result.returncode == code
    assert message in result.stderr


def test_invalid_fqdn_is_refused_before_anything_is_created(run, tmp_path):
    for bad in ("not a host", "localhost", "*.acme.test", "10.0.0.1"):
        result = run("init", "--org", "Acme CSO", "--fqdn", bad)
        assert result.returncode == 1 and "fqdn." in result.stderr, bad
    assert not list((tmp_path / "data").glob("keys/*")), "no key was generated for a refused init"
    assert run("init", "--org", "Acme CSO", "--fqdn", "csms.acme.test").returncode == 0


@pytest.mark.parametrize("url", ["not a url", "pki.acme.test", "ftp://pki.acme.test", "http://pki.acme.test/\n",
                                 'http://pki.acme.test/"x'])
def test_a_public_url_no_certificate_can_carry_is_refused_before_any_key(run, tmp_path, url):
    # Refused only by the lint of the station CA's certificate, after the root's and that CA's
    # keys were made (left behind); from the environment, on every certificate issued later.
    result = run("init", "--org", "Acme CSO", "--fqdn", "csms.acme.test", "--public-url", url)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1 and "--public-url" in result.stderr
    assert not list((tmp_path / "data").glob("keys/*"))
    from_environment = run("station", "list", extra_env={"CHARGECA_PUBLIC_URL": url})
    assert from_environment.returncode == 3 and "CHARGECA_PUBLIC_URL" in from_environment.stderr


@pytest.mark.usefixtures("initialised")
def test_wrong_csr_identity_is_refused_with_its_rule(run, tmp_path):
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


@pytest.mark.usefixtures("initialised")
def test_wrong_passphrase_is_refused_without_damage(run):
    run("station", "add", "CP-1", "--security-profile", "3")
    result = run("crl", extra_env={"CHARGECA_KEY_PASSPHRASE": "a-different-passphrase"})
    assert result.returncode == 3 and "wrong passphrase" in result.stderr
    assert run("crl").returncode == 0


def test_database_down_exit_code(run):
    result = run("station", "list", extra_env={"CHARGECA_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert result.returncode == 4 and "database unavailable" in result.stderr


@pytest.mark.parametrize("url", ["mysql://chargeca:s3cret-pw@db/chargeca", "chargeca:s3cret-pw@db/chargeca",
                                 "postgresql://chargeca:s3cret-pw@db:5432x/chargeca",
                                 "postgresql+asyncpg://chargeca:s3cret-pw@db/chargeca"])
def test_a_database_url_no_database_answers_is_a_setup_error_naming_the_variable(run, tmp_path, url):
    # Another scheme ended in a traceback (no driver, or no URL SQLAlchemy could parse), a port
    # that is no number in "invalid literal for int()" as a refusal (exit 1).
    result = run("station", "list", extra_env={"CHARGECA_DATABASE_URL": url})
    assert result.returncode == 3, result.stderr
    assert len(result.stderr.splitlines()) == 1 and "CHARGECA_DATABASE_URL" in result.stderr
    assert "s3cret-pw" not in result.stderr
    assert not (tmp_path / "data").exists(), "refused before anything was created"


@pytest.mark.parametrize("where", ["a-file", "a-file/data"])
def test_a_data_directory_that_cannot_be_made_is_a_setup_error(run, tmp_path, where):
    # A file in its place or on its path (or a read-only file system) was an OSError traceback.
    (tmp_path / "a-file").write_text("not a directory\n")
    result = run("station", "list", extra_env={"CHARGECA_DATA": str(tmp_path / where)})
    assert result.returncode == 3, result.stderr
    assert result.stderr.splitlines() == [f"chargeca: error: cannot make the data directory {tmp_path / where} "
                                          f"({'File exists' if where == 'a-file' else 'Not a directory'})"]


# --- secrets at rest, the CA commands, the server certificate's names -----------------------------

@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_passphrase_file_open_to_others_is_refused(run, tmp_path, mode):
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("file-passphrase-1234567\n")
    passphrase.chmod(mode)
    env = {"CHARGECA_KEY_PASSPHRASE": "", "CHARGECA_KEY_PASSPHRASE_FILE": str(passphrase)}
    refused = run("init", "--org", "Acme CSO", "--fqdn", "csms.acme.test", extra_env=env)
    assert refused.returncode == 3
    assert str(passphrase) in refused.stderr and f"chmod 600 {passphrase}" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert not list((tmp_path / "data").glob("keys/*")), "nothing was made with the exposed passphrase"
    passphrase.chmod(0o600)
    assert run("init", "--org", "Acme CSO", "--fqdn", "csms.acme.test", extra_env=env).returncode == 0


@pytest.mark.parametrize("content", [None, b"\xffcli-test-passphrase-123\n"], ids=["directory", "not-utf8"])
def test_passphrase_file_that_cannot_be_read_as_text_is_a_setup_error(run, tmp_path, content):
    passphrase = tmp_path / "passphrase"
    if content is None:
        passphrase.mkdir(mode=0o700)
    else:
        passphrase.write_bytes(content)
        passphrase.chmod(0o600)
    env = {"CHARGECA_KEY_PASSPHRASE": "", "CHARGECA_KEY_PASSPHRASE_FILE": str(passphrase)}
    refused = run("init", "--org", "Acme CSO", "--fqdn", "csms.acme.test", extra_env=env)
    assert refused.returncode == 3, refused.stderr
    assert f"CHARGECA_KEY_PASSPHRASE_FILE {passphrase}" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "0xff" not in refused.stderr


@pytest.mark.usefixtures("initialised")
def test_serve_with_the_wrong_passphrase_is_a_setup_error(run):
    # The TLS keys are the first it decrypts: OpenSSL said "PEM lib", in a traceback, exit 1.
    ports = {name: "0" for name in ("CHARGECA_REST_PORT", "CHARGECA_OCPP_WS_PORT", "CHARGECA_OCPP_WSS_PORT",
                                    "CHARGECA_FILES_HTTPS_PORT")}
    served = run("serve", "--no-dev-init",
                 extra_env={**ports, "CHARGECA_KEY_PASSPHRASE": "a-different-passphrase"})
    assert served.returncode == 3, served.stderr
    last = served.stderr.strip().splitlines()[-1]
    assert last.startswith("chargeca: error: key 'server-") and "wrong passphrase" in last
    assert "Traceback" not in served.stderr


def test_organization_too_long_for_the_ca_names_is_refused_before_any_key(run, tmp_path):
    # It had keys made, then stopped on cryptography's "Attribute's length must be <= 64".
    result = run("init", "--org", "O" * 42, "--fqdn", "csms.acme.test")
    assert result.returncode == 1 and "organization.length" in result.stderr, result.stderr
    assert not list((tmp_path / "data").glob("keys/*"))
    assert run("init", "--org", "O" * 40, "--fqdn", "csms.acme.test").returncode == 0


@pytest.mark.parametrize("organization", ["Acme\tCSO", "Acme\u200bCSO", " Acme CSO"])
def test_an_organization_name_no_station_could_repeat_is_refused_before_any_key(run, tmp_path, organization):
    result = run("init", "--org", organization, "--fqdn", "csms.acme.test")
    assert result.returncode == 1 and "organization.text" in result.stderr, result.stderr
    assert not list((tmp_path / "data").glob("keys/*"))


@pytest.mark.usefixtures("initialised")
def test_a_config_file_that_cannot_be_read_is_a_setup_error(run, tmp_path):
    config = tmp_path / "data" / "config.toml"
    config.write_bytes(b"[chargeca]\nfqdn = \"\xff\"\n")
    broken = run("ca", "list")
    assert broken.returncode == 3 and "not UTF-8" in broken.stderr and "Traceback" not in broken.stderr
    config.unlink()
    config.mkdir()
    gone = run("ca", "list")
    assert gone.returncode == 3 and "cannot be read" in gone.stderr and "Traceback" not in gone.stderr


@pytest.mark.usefixtures("initialised")
def test_signing_without_the_lint_says_so_in_the_audit_log(run, tmp_path):
    run("station", "add", "CP-1", "--security-profile", "3")
    csr = tmp_path / "cp1.csr"
    csr.write_text(openssl_csr(tmp_path, "CP-1", "Acme CSO", "rsa-2048"))
    assert run("cert", "sign", "--station", "CP-1", "--csr", str(csr), "--no-lint").returncode == 0
    listed = run("audit", "list", "--action", "certificate.sign")
    assert '"lint_skipped":true' in listed.stdout, listed.stdout


def test_init_that_cannot_record_its_config_keeps_nothing(run, tmp_path):
    # config.toml is written in the PKI's transaction: committed without it, later commands lost
    # the fqdn (and a token's settings) and init refused to run again.
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "config.toml").symlink_to(tmp_path / "missing" / "config.toml")
    failed = run("init", "--org", "Acme CSO", "--fqdn", "csms.acme.test")
    assert failed.returncode == 3 and "cannot write" in failed.stderr, failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1
    (data / "config.toml").unlink()
    again = run("init", "--org", "Acme CSO", "--fqdn", "csms.acme.test")
    assert again.returncode == 0, again.stderr
    assert 'fqdn = "csms.acme.test"' in (data / "config.toml").read_text()


def test_version(run):
    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == "chargeca 0.1.0"


@pytest.mark.usefixtures("initialised")
def test_ca_root_and_list(run, tmp_path, monkeypatch):
    printed = run("ca", "root")
    assert printed.returncode == 0, printed.stderr
    root = x509.load_pem_x509_certificate(printed.stdout.encode())
    assert root.subject == root.issuer and root.subject.rfc4514_string() == "CN=Acme CSO CSMS Root CA G1,O=Acme CSO"
    written = run("ca", "root", "--out", str(tmp_path / "root.pem"))
    assert written.returncode == 0 and str(tmp_path / "root.pem") in written.stdout
    assert (tmp_path / "root.pem").read_text() == printed.stdout
    unwritable = run("ca", "root", "--out", str(tmp_path / "missing" / "root.pem"))
    assert unwritable.returncode == 1 and "cannot write" in unwritable.stderr

    _add_v2g_ca(tmp_path / "data", monkeypatch)
    listed = run("ca", "list")
    assert listed.returncode == 0, listed.stderr
    header, *rows = [line.split("\t") for line in listed.stdout.strip().splitlines()]
    assert header == ["id", "kind", "subject", "serial", "not_before", "not_after", "status"]
    by_kind = {row[1]: row for row in rows}
    assert set(by_kind) == {"root", "station", "server", "v2g"}
    assert by_kind["root"][2] == root.subject.rfc4514_string()
    assert by_kind["root"][3] == format(root.serial_number, "x")
    assert by_kind["root"][5] == root.not_valid_after_utc.isoformat(timespec="seconds")
    assert by_kind["v2g"][2] == "CN=Acme CSO V2G CA G1,O=Acme CSO"
    assert {row[6] for row in rows} == {"active"}


def _add_v2g_ca(data: Path, monkeypatch) -> None:
    """A V2G sub-CA as any other door creates it: `ca list` shows whatever CAs the database has."""
    from api.core.context import open_context
    from api.core.settings import load_settings
    from pki.v2g import ensure_v2g_ca
    from storage.db import session_scope

    monkeypatch.setenv("CHARGECA_KEY_PASSPHRASE", "cli-test-passphrase-123")
    monkeypatch.delenv("CHARGECA_DATABASE_URL", raising=False)
    ctx = open_context(load_settings(data))
    with session_scope(ctx.engine) as session:
        ensure_v2g_ca(session, ctx.keystore, policy=ctx.policy, urls=ctx.urls)
    ctx.engine.dispose()


def _server_names(data: Path, monkeypatch) -> list[list[str]]:
    from sqlmodel import select

    from storage.certificates import CertKind, CertStatus, IssuedCertificate
    from storage.db import make_engine, session_scope

    engine = make_engine(f"sqlite:///{data / 'chargeca.db'}")
    with session_scope(engine) as session:
        rows = session.exec(select(IssuedCertificate).where(IssuedCertificate.kind == CertKind.SERVER,
                                                            IssuedCertificate.status == CertStatus.ACTIVE)).all()
    engine.dispose()
    names = []
    for row in rows:
        certificate = x509.load_pem_x509_certificate(row.certificate_pem.encode())
        names.append([str(n.value) for n in
                      certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value])
    return names


def test_init_adds_server_names_and_rotation_keeps_them(run, tmp_path, monkeypatch):
    init = run("init", "--org", "Acme CSO", "--fqdn", "csms.acme.test", "--san", "csms.lab.acme.test",
               "--san", "10.1.2.3", "--san", "localhost", "--san", "fd00::7")
    assert init.returncode == 0, init.stderr
    expected = ["csms.acme.test", "csms.lab.acme.test", "10.1.2.3", "localhost", "fd00::7"]
    assert _server_names(tmp_path / "data", monkeypatch) == [expected, expected], "ECDSA and RSA alike"

    from api.core.audit import Actor
    from api.core.context import open_context
    from api.core.settings import load_settings
    from api.csms.security.authority_service import renew_server_certificates

    monkeypatch.setenv("CHARGECA_KEY_PASSPHRASE", "cli-test-passphrase-123")
    monkeypatch.delenv("CHARGECA_DATABASE_URL", raising=False)
    ctx = open_context(load_settings(tmp_path / "data"))
    renew_server_certificates(ctx, Actor("cli:test"), "csms.acme.test")
    ctx.engine.dispose()
    assert _server_names(tmp_path / "data", monkeypatch) == [expected, expected]


@pytest.mark.parametrize("name, rule", [("not a host", "fqdn.syntax"), ("*.acme.test", "fqdn.wildcard"),
                                        ("0.0.0.0", "san.ip"), ("224.0.0.1", "san.ip"),
                                        ("bad_name.test", "fqdn.syntax")])
def test_bad_server_name_is_refused_before_anything_is_created(run, tmp_path, name, rule):
    result = run("init", "--org", "Acme CSO", "--fqdn", "csms.acme.test", "--san", name)
    assert result.returncode == 1 and rule in result.stderr and repr(name) in result.stderr
    assert not list((tmp_path / "data").glob("keys/*"))


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


@pytest.mark.usefixtures("initialised")
def test_station_kill_switch_and_delete(run):
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
    assert run("station", "add", "CP-10").returncode == 0
    mine = run("audit", "list", "--target", "CP-9").stdout.splitlines()
    assert {line.split("\t")[4] for line in mine} == {"CP-9"} and len(mine) >= 5
    assert [line.split("\t")[3] for line in run("audit", "list", "--target", "CP-9", "--action",
                                                  "station.delete").stdout.splitlines()] == ["station.delete"] * 2


@pytest.mark.usefixtures("initialised")
def test_station_password_from_stdin_or_file_and_profile(run, tmp_path: Path):
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


@pytest.mark.parametrize(("policy", "named"), [
    (b'[tls]\nmin_version = "TLSv1.0"\n', "tls.version_too_low"),
    (b'[tls]\nmin_version = "\xff"\n', "policy.toml"),
])
def test_a_refused_policy_file_stops_every_command_naming_it(run, initialised, tmp_path, policy, named):
    (tmp_path / "data" / "policy.toml").write_bytes(policy)
    refused = run("audit", "verify")
    assert refused.returncode == 3, refused.stderr
    assert named in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


@pytest.mark.usefixtures("initialised")
def test_audit_list_prints_stored_control_characters_escaped_one_entry_a_line(run):
    # A refused request is audited with its target as sent: a newline and tabs there printed a
    # second, forged entry under the real one, and an escape sequence rewrote the officer's terminal.
    forged = "CP-1\n99\t2026-01-01T00:00:00+00:00\tcli:alice\tstation.enable\tCP-1\tsuccess\t{}\x1b[2K\x9b\u202e"
    assert run("station", "disable", forged).returncode == 1
    listed = run("audit", "list", "--action", "station.disable")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 1 and len(lines[0].split("\t")) == 7
    assert lines[0].split("\t")[4] == ("CP-1\\n99\\t2026-01-01T00:00:00+00:00\\tcli:alice\\tstation.enable\\tCP-1"
                                       "\\tsuccess\\t{}\\x1b[2K\\x9b\\u202e")


@pytest.mark.parametrize("command", [("ca", "list"), ("crl", "--der")])
@pytest.mark.usefixtures("initialised")
def test_a_reader_that_stops_reading_ends_the_command_quietly(tmp_path, command):
    # `chargeca ca list | head -1`: the reader closed the pipe, and the next write (or Python's
    # flush at exit) ended in a BrokenPipeError traceback.
    read_end, write_end = os.pipe()
    os.close(read_end)
    with open(tmp_path / "stderr", "w+b") as stderr:
        process = spawn(list(command), cwd=tmp_path, env=cli_env(tmp_path / "data"), stdout=write_end,
                        stderr=stderr.fileno())
        os.close(write_end)
        code = process.wait(60)
        stderr.seek(0)
        assert (code, stderr.read()) == (141, b"")


def _endless_fifo(path: Path, stop: threading.Event) -> threading.Thread:
    """A FIFO at ``path`` that gives its reader 64 MiB of text and no end of file until ``stop``."""
    os.mkfifo(path)

    def feed() -> None:
        with open(path, "wb") as fifo:
            try:
                for _ in range(64):
                    fifo.write(b"A" * (1 << 20))
            except BrokenPipeError:   # the reader stopped, as it should
                return
            stop.wait(120)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("arguments", [
    ("cert", "sign", "--station", "CP-1", "--csr", "FILE"),
    ("firmware", "root", "add", "FILE"),
    ("id-token", "import", "FILE", "--format", "csv"),
    ("station", "set-password", "CP-1", "--password-file", "FILE"),
])
@pytest.mark.usefixtures("initialised")
def test_a_file_beyond_what_the_command_reads_is_refused_without_reading_it_all(run, tmp_path, arguments):
    # Read whole before any size check: /dev/zero, or a disk image given for a CSR, ran the
    # machine out of memory (a MemoryError traceback). Here a reader of the whole never returns.
    stop = threading.Event()
    fifo = tmp_path / "endless"
    feeder = _endless_fifo(fifo, stop)
    try:
        result = run(*(str(fifo) if argument == "FILE" else argument for argument in arguments), timeout=30)
    finally:
        stop.set()
        feeder.join(10)
    assert result.returncode == 1, result.stderr
    assert len(result.stderr.splitlines()) == 1 and f"{fifo} is larger than" in result.stderr
