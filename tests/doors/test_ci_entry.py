"""CI runs what the README says, from locked versions that satisfy pyproject's ranges."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parents[2]


def _readme_test_command() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("**Run the tests**", 1)[1]
    return re.search(r"```sh\n(.*?)\n```", section, re.S).group(1).strip()


def _locked() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = Version(version)
    return pins


def test_ci_runs_the_readme_test_command_from_the_lock_file():
    command = _readme_test_command()
    assert "-c requirements.lock" in command
    assert command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_every_direct_dependency_has_an_upper_bound_and_a_locked_version_inside_its_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    locked = _locked()
    for spec in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        requirement = Requirement(spec)
        assert any(s.operator in ("<", "<=", "==", "~=") for s in requirement.specifier), f"{spec}: no upper bound"
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement.name} is not in requirements.lock"
        assert requirement.specifier.contains(locked[name], prereleases=True), \
            f"requirements.lock pins {requirement.name} {locked[name]}, outside {requirement.specifier}"


def test_a_warning_fails_the_run():
    # pyproject's filterwarnings = ["error"]: a deprecation that slipped by would stop CI here.
    import warnings

    with pytest.raises(DeprecationWarning):
        warnings.warn("deprecated", DeprecationWarning, stacklevel=1)
