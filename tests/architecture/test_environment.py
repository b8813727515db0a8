"""The service reads the environment in one place, ``api/core/settings.py``
(docs/architecture.md, "Configuration"), so that every variable has one order of sources and one line in the README.
The exceptions are the scripts around the service, each for a reason written here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parents[2]
THE_ONE_READER = "api/core/settings.py"
EXCEPTIONS = {
    # A REST client of the service, not the service: its --url and --token default to the shell's.
    "scripts/rotation_client.py": "CHARGECA_URL and CHARGECA_TOKEN of the rotation scripts",
    # Benchmarks set the variables of the service they start (and keep the shell's out of it).
    "scripts/bench_gateway.py": "sets the environment of the server it starts",
    "scripts/bench_issuance.py": "sets the passphrase and database of the service it runs in-process",
    "scripts/bench_uploads.py": "sets the environment of the server it starts and of its watchers",
    "scripts/bench_firmware.py": "sets the passphrase of the service it runs in-process",
    "scripts/bench_device_model.py": "sets the passphrase and database of the service it runs in-process",
    "scripts/bench_relay.py": "sets the passphrase and database of the PKI it prepares for the nodes it starts",
}


def environment_uses(path: Path) -> list[int]:
    """Lines that touch ``os.environ`` or call ``os.getenv`` / ``getenv``."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
            lines.append(node.lineno)
        elif isinstance(node, ast.Name) and node.id in ("environ", "getenv"):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and \
                any(alias.name in ("environ", "getenv") for alias in node.names):
            lines.append(node.lineno)
    return sorted(set(lines))


def readers(root: Path = ROOT) -> dict[str, list[int]]:
    paths = [p for package in ("api", "pki", "policies", "storage", "simulator", "scripts")
             for p in (root / package).rglob("*.py")]
    found = {str(p.relative_to(root)): environment_uses(p) for p in sorted(paths)}
    return {path: lines for path, lines in found.items() if lines}


def test_only_settings_and_the_documented_scripts_read_the_environment():
    others = {path: lines for path, lines in readers().items()
              if path != THE_ONE_READER and path not in EXCEPTIONS}
    assert others == {}, f"read it in {THE_ONE_READER} (a Settings field), or document the exception here"


def test_every_documented_exception_still_exists():
    assert set(EXCEPTIONS) <= set(readers()), "an exception no longer needed: remove it"


def test_the_check_finds_a_read_of_the_environment(tmp_path):
    probe = tmp_path / "api" / "ocpp" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("import os\nfrom os import getenv\n\nPORT = os.environ.get('X')\nHOST = getenv('Y')\n")
    assert readers(tmp_path) == {"api/ocpp/probe.py": [2, 4, 5]}
