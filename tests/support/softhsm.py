"""SoftHSM2 tokens for tests: each test gets its own configuration and token directory.

SoftHSM reads SOFTHSM2_CONF when the PKCS#11 library is initialised, and the library is loaded
once per process, so a new token re-initialises it: tests in one process run one at a time,
and xdist workers are separate processes, each with its own tmp directories.
Without SoftHSM2 the token variants skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from pki.pkcs11_keystore import Pkcs11Settings

IN_CI = os.environ.get("CI", "").lower() == "true"
_MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
TOKEN_PIN = "1234-test-pin"


def softhsm_module() -> Path | None:
    configured = os.environ.get("CHARGECA_TEST_SOFTHSM_MODULE")
    for candidate in ((configured,) if configured else _MODULE_CANDIDATES):
        if Path(candidate).exists():
            return Path(candidate)
    return None


def require_softhsm() -> Path:
    module, tool = softhsm_module(), shutil.which("softhsm2-util")
    if module and tool:
        return module
    reason = "SoftHSM2 is not installed (apt-get install softhsm2)"
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def new_token(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Pkcs11Settings:
    """A fresh, initialised token in ``directory``, with SOFTHSM2_CONF pointing at it, and a
    PIN file of mode 0600."""
    import pkcs11

    module = require_softhsm()
    tokens = directory / "softhsm-tokens"
    tokens.mkdir(parents=True, mode=0o700)
    config = directory / "softhsm2.conf"
    config.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
                      "slots.removable = false\n", encoding="utf-8")
    label = f"chargeca-{secrets.token_hex(4)}"
    env = {**os.environ, "SOFTHSM2_CONF": str(config)}
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", TOKEN_PIN,
                    "--so-pin", "5678-test-so-pin"], check=True, capture_output=True, env=env, timeout=30)
    monkeypatch.setenv("SOFTHSM2_CONF", str(config))
    pkcs11.lib(str(module)).reinitialize()
    pin_file = directory / "token.pin"
    fd = os.open(pin_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(TOKEN_PIN + "\n")
    return Pkcs11Settings(module, label, pin_file)


def destroy_key(token: Pkcs11Settings, label: str) -> None:
    """Delete both halves of a key pair from the token behind the store's back, as an HSM
    administrator (or a mistaken cleanup) would while the service runs."""
    import pkcs11

    session = pkcs11.lib(str(token.module)).get_token(token_label=token.token_label).open(rw=True)
    try:
        objects = list(session.get_objects({pkcs11.Attribute.LABEL: label}))
        assert objects, f"no object labelled {label!r} in the token"
        for found in objects:
            found.destroy()
    finally:
        session.close()  # logs the process out too: the store logs in again on its next use
