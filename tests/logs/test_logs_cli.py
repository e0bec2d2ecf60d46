"""`mailprobe logs` through the real entry point (scanner.cli.main): wiring, exit codes, outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scanner.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXCHANGE = ROOT / "fixtures" / "logs" / "exchange"


def test_logs_subcommand_json(capsys) -> None:
    assert main(["logs", str(EXCHANGE), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["address"] == "198.51.100.23" and rows[0]["insecure_logins"] == 3


def test_missing_file_exits_2_with_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "scanner", "logs", str(EXCHANGE), str(tmp_path / "missing.log")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "missing.log" in proc.stderr
    assert proc.stdout == ""
