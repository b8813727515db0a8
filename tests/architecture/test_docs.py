"""The repository explains itself: code cites docs/architecture.md by section, every cited section
exists, nothing cites a file outside the repository, and the README names only files that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
CITATION = re.compile(r'docs/architecture\.md, "([^"\n]+)"')
# Paths of the repository as the README writes them, in backquotes (a <placeholder> is no path).
README_PATH = re.compile(r"`((?:api|pki|policies|storage|simulator|scripts|tests|docs|\.ci)/[^`\s<]*)`")


def sources() -> list[Path]:
    return sorted(p for package in ("api", "pki", "policies", "storage", "simulator", "scripts", "tests")
                  for p in (ROOT / package).rglob("*.py"))


def headings(text: str) -> set[str]:
    return {line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")}


def missing_sections(paths: list[Path]) -> dict[str, list[str]]:
    """Cited section → the files that cite it, for sections docs/architecture.md does not have."""
    present = headings(ARCHITECTURE.read_text(encoding="utf-8"))
    missing: dict[str, list[str]] = {}
    for path in paths:
        for section in CITATION.findall(path.read_text(encoding="utf-8")):
            if section not in present:
                missing.setdefault(section, []).append(path.name)
    return missing


def test_every_cited_section_of_the_architecture_exists():
    cited = {section for path in sources() for section in CITATION.findall(path.read_text(encoding="utf-8"))}
    assert len(cited) >= 5, "the code cites the architecture by section"
    assert missing_sections(sources()) == {}


def test_the_citation_check_can_fail(tmp_path):
    probe = tmp_path / "probe.py"
    cite = "docs/architecture.md, "  # split, so that this file cites nothing itself
    probe.write_text(f'# {cite}"No such section"; {cite}"Tests"\n')
    assert missing_sections([probe]) == {"No such section": ["probe.py"]}


def test_nothing_cites_the_design_notes_outside_the_repository():
    here = Path(__file__).resolve()
    outside = [str(p.relative_to(ROOT)) for p in [*sources(), ROOT / "README.md", ARCHITECTURE]
               if p.resolve() != here and "design.md" in p.read_text(encoding="utf-8")]
    assert outside == []


def test_the_readme_names_only_files_that_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    gone = sorted({path for path in README_PATH.findall(readme) if not any(ROOT.glob(path.rstrip("/")))})
    assert gone == []
