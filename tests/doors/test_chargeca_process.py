"""The `chargeca` the tests run, forked from a zygote that imported it once
(tests/support/chargeca_zygote.py), answers as `python -m api.cli` in a fresh interpreter does:
the same exit codes and output, and each command only its own environment and directory."""

from __future__ import annotations

import os
import subprocess
import sys

from chargeca_process import chargeca


def _clean_env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("CHARGECA_")}, **extra}


def _exec(*args: str, env: dict[str, str], cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120)


def test_a_forked_command_answers_as_a_fresh_interpreter_does(tmp_path):
    env = _clean_env(CHARGECA_DATA=str(tmp_path / "data"))
    for args in (("--version",), ("bogus",), ("station", "list")):
        forked, fresh = chargeca(*args, env=env, cwd=tmp_path), _exec(*args, env=env, cwd=tmp_path)
        assert (forked.returncode, forked.stdout, forked.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)
    assert fresh.returncode == 3 and "no key passphrase" in fresh.stderr


def test_each_command_sees_only_its_own_environment_and_directory(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    short = chargeca("station", "list", env=_clean_env(CHARGECA_KEY_PASSPHRASE="short"), cwd=first)
    assert (short.returncode, short.stderr.strip()) == (3, "chargeca: error: key passphrase must have at least "
                                                           "16 characters")
    assert list(first.iterdir()) == [], "a refused command leaves nothing behind"
    # Nothing of the command before: no passphrase now.
    unset = chargeca("station", "list", env=_clean_env(), cwd=second)
    assert (unset.returncode, "no key passphrase" in unset.stderr) == (3, True)
    made = chargeca("init", "--org", "Acme CSO", "--fqdn", "csms.acme.test",
                    env=_clean_env(CHARGECA_KEY_PASSPHRASE="a-passphrase-of-20-chars"), cwd=second)
    assert made.returncode == 0, made.stderr
    # Relative to the command's own directory; private as `chargeca` makes it, whatever the zygote's umask.
    assert (second / "chargeca-data" / "keys").is_dir() and not (first / "chargeca-data" / "keys").exists()
    assert (second / "chargeca-data").stat().st_mode & 0o077 == 0
