"""The layers of docs/architecture.md, read from the imports of every module: a rule broken fails CI.

Each layer may import the layers below it, never one above it. ``simulator`` (a station) shares
no code with the CSMS it tests; only a door (`chargeca simulate`) may start one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parents[2]

# Highest first. A module belongs to the first layer whose prefix its name starts with.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("doors", ("api.cli", "api.server", "api.stack", "api.rest", "api.operations", "api.metrics",
               "api.loop_delay", "api.next_steps", "api.workers", "api.__main__")),
    ("cluster", ("api.cluster",)),
    ("rotation", ("api.rotation",)),
    ("csms", ("api.csms",)),
    ("ocpp", ("api.ocpp",)),
    ("core", ("api.core",)),
    ("pki", ("pki",)),
    ("policies and storage", ("policies", "storage")),
]
RANK = {name: rank for rank, (name, _prefixes) in enumerate(LAYERS)}
OWN_PACKAGES = ("api", "pki", "policies", "storage", "simulator")


def layer_of(module: str) -> str | None:
    for name, prefixes in LAYERS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return name
    return None


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of our own packages, including imports inside functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            # "from api.csms import security" imports the module api.csms.security
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names
                      if (ROOT / node.module.replace(".", "/") / alias.name).is_dir()
                      or (ROOT / node.module.replace(".", "/") / f"{alias.name}.py").is_file()]
    return [(line, module) for line, module in found if module.split(".")[0] in OWN_PACKAGES]


def sources(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def violations(paths: list[Path] | None = None, root: Path = ROOT) -> list[str]:
    broken = []
    for path in paths if paths is not None else sources("api", "pki", "policies", "storage"):
        importer = module_name(path, root)
        if importer == "api":  # the namespace of the layers, empty
            continue
        own = layer_of(importer)
        assert own is not None, f"{importer} belongs to no layer: add it to LAYERS and docs/architecture.md"
        for line, module in imported_modules(path):
            target = layer_of(module)
            if module.startswith("simulator") and own != "doors":  # `chargeca simulate` runs one
                broken.append(f"{path.relative_to(root)}:{line} imports the simulator ({module})")
            elif target is not None and RANK[target] < RANK[own]:
                broken.append(f"{path.relative_to(root)}:{line} ({own}) imports {module} ({target}), a layer above")
    return broken


def test_no_module_imports_a_layer_above_its_own():
    assert violations() == []


def test_the_simulator_shares_no_code_with_the_csms():
    shared = [f"{path.relative_to(ROOT)}:{line} imports {module}" for path in sources("simulator")
              for line, module in imported_modules(path) if module.split(".")[0] == "api"]
    assert shared == []


def test_the_rule_check_finds_an_upward_import(tmp_path):
    """The check itself can fail: an engine module that imports a functional block is reported,
    one that imports the layer below is not."""
    probe = tmp_path / "api" / "ocpp" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("from api.core.context import Context\n\ndef late():\n    from api.csms.routes import ROUTES\n")
    assert violations([probe], root=tmp_path) == [
        "api/ocpp/probe.py:4 (ocpp) imports api.csms.routes (csms), a layer above"]
