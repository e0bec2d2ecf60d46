"""The import directions of docs/architecture.md, as import-linter contracts in pyproject.toml: a module that imports
against them (protocols reaching outside themselves, verdicts doing I/O, argparse below the command line, the engine
importing its consumers) fails here with the chain of imports that breaks the rule."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if command is None and not os.environ.get("CI"):  # CI installs the test extras: there it must run
        pytest.skip("import-linter not installed here: pip install -e '.[test]'")
    assert command, "lint-imports not installed: pip install -e '.[test]'"
    run = subprocess.run([command, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout and "broken." in run.stdout


def test_one_import_style_in_the_tests() -> None:
    """Every test folder is a package and helpers are imported as ``tests.<folder>.<module>``: nothing edits sys.path
    (which made the same helper importable under two names and hid missing packages)."""
    tests = ROOT / "tests"
    folders = [d for d in tests.rglob("*") if d.is_dir() and any(d.glob("*.py")) and "__" not in d.name]
    assert [d for d in [tests, *folders] if not (d / "__init__.py").exists()] == []
    edits = ("sys.path." + "insert", "sys.path." + "append")  # spelt apart so that this file does not match
    assert [p for p in tests.rglob("*.py") if any(edit in p.read_text() for edit in edits)] == []


def _named_in_architecture(module: Path, page: str) -> bool:
    """A module is named by its whole path, or by its file name in a table row or section about its package."""
    relative = module.relative_to(ROOT).as_posix()
    if relative in page:
        return True
    package = "/".join(relative.split("/")[:2]) + "/"  # scanner/probe/ for scanner/probe/dialects/imap.py
    name = module.name if module.parent.name in ("scanner", package.split("/")[1]) else module.parent.name + "/"
    for section in page.split("\n### "):
        heading, _, body = section.partition("\n")
        if package in heading and any(f"`{name}" in line or f" {name}" in line for line in body.splitlines()):
            return True
        if any(package in line and name in line for line in body.splitlines()):
            return True
    return False


def test_docs_architecture_names_every_module() -> None:
    """A newcomer reads the tree from docs/architecture.md: a module it does not name is a room without a sign."""
    page = (ROOT / "docs" / "architecture.md").read_text()
    modules = [p for p in sorted((ROOT / "scanner").rglob("*.py")) if p.name != "__init__.py"]
    missing = [p.relative_to(ROOT).as_posix() for p in modules if not _named_in_architecture(p, page)]
    assert missing == [], "not named in docs/architecture.md: " + ", ".join(missing)
