"""--workers: a literal scan shared by forked processes gives the same rows as one process, each endpoint once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.scan.workers import MIN_ENDPOINTS_PER_WORKER, worker_count
from scanner.targets.planning import build_plan

ROOT = Path(__file__).resolve().parents[2]


def test_worker_count_rules(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    big = build_plan(["192.0.2.0/24", "198.51.100.0/24"])  # 2,048 endpoints; planned, never scanned
    assert worker_count(None, big, tui=False) == 2048 // MIN_ENDPOINTS_PER_WORKER
    assert worker_count(None, build_plan(["192.0.2.0/22"]), tui=False) == 4  # capped by the CPUs
    assert worker_count(None, build_plan(["192.0.2.1"]), tui=False) == 1  # too small to be worth a fork
    assert worker_count(3, build_plan(["192.0.2.1"]), tui=False) == 3  # asked for
    assert worker_count(3, big, tui=True) == 1  # the TUI scans in one process
    assert worker_count(3, build_plan(["mail.example.com"]), tui=False) == 1  # names resolve in one place


def scan_rows(*args: str) -> list[dict]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scanner",
            "scan",
            *args,
            "--no-tui",
            "--format",
            "jsonl",
            "--no-ptr",
            "--no-legacy-tls",
            "--source-address",
            "127.0.0.1",
            "--timeout",
            "2",
            "--fail-on",
            "none",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def summary(row: dict) -> tuple:
    return (
        row["address"],
        row["port"],
        row["state"],
        row["plaintext_login"]["verdict"],
        row["starttls"],
        tuple(sorted(f["id"] for f in row["findings"])),
    )


@pytest.mark.dovecot
def test_two_workers_give_the_rows_one_process_gives(dovecot_plaintext_allowed):
    """A real Dovecot among 1,024 closed endpoints (127.0.3.0/24): every endpoint once, the same verdicts."""
    targets = [dovecot_plaintext_allowed.address, "127.0.3.0/24"]
    alone = scan_rows(*targets, "--workers", "1")
    shared = scan_rows(*targets, "--workers", "2")
    keys = [(r["address"], r["port"]) for r in shared]
    assert len(keys) == len(set(keys)) == 1028
    assert sorted(map(summary, shared)) == sorted(map(summary, alone))
    open_rows = [r for r in shared if r["state"] == "open"]
    assert {r["port"] for r in open_rows} == {110, 143, 993, 995}
    assert {r["plaintext_login"]["verdict"] for r in open_rows if r["transport"] == "starttls"} == {"accepted"}
    assert all(r["tls"]["certificate"] for r in open_rows)  # whole results cross the pipe
    # three processes: the parent's own share and two workers' (the Dovecot's address falls in one of them)
    three = scan_rows(*targets, "--workers", "3")
    assert sorted(map(summary, three)) == sorted(map(summary, alone))
