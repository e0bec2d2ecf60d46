""".ci/floors.py: the constraints the minimum-versions CI run installs, one `name==floor` per `name>=floor`."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / ".ci" / "floors.py"


def _floors_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("floors", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_floor_becomes_a_pin_and_the_rest_is_left_alone(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\n'
        'dependencies = ["alpha>=1.2", "beta", "gamma[extra] >= 3.0.1 ; python_version < \'4\'"]\n'
        '[project.optional-dependencies]\ntest = ["delta>=0.24,<2", "epsilon"]\nother = ["zeta>=9"]\n',
        encoding="utf-8",
    )
    floors = _floors_module().floors
    assert floors(pyproject, []) == ["alpha==1.2", "gamma==3.0.1"]
    assert floors(pyproject, ["test"]) == ["alpha==1.2", "gamma==3.0.1", "delta==0.24"]


def test_the_project_floors_cover_every_runtime_dependency_with_one() -> None:
    run = subprocess.run([sys.executable, str(SCRIPT), "test"], capture_output=True, text=True, check=True)
    pins = dict(line.split("==") for line in run.stdout.split())
    assert {"cryptography", "pyOpenSSL", "dnspython", "textual", "pytest", "pytest-asyncio"} <= set(pins)
    assert pins["pyOpenSSL"] == "24.3"  # as_cryptography= arrived in 24.3
