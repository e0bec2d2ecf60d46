"""--workers: a literal scan shared by forked processes gives the same rows as one process, each endpoint once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
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


# A worker whose parent dies before the worker asked to die with it (under load a forked child may not run for a
# while), in a process tree with a subreaper: systemd --user, a supervisor or a container's init run as one takes the
# orphan instead of pid 1. Here the script is the subreaper; the worker's first parent exits at once.
ORPHAN = textwrap.dedent("""
    import ctypes, os, sys, time
    from scanner.scan.workers import _end_with_parent
    assert ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    me = os.getpid()
    read_end, write_end = os.pipe()
    middle = os.fork()
    if middle == 0:  # the scan's parent process, killed right after the fork
        parent = os.getpid()
        if os.fork() == 0:  # the worker
            os.close(read_end)
            while os.getppid() == parent:
                time.sleep(0.001)
            os.write(write_end, f"orphaned under pid {os.getppid() - me} from the subreaper\\n".encode())
            _end_with_parent(parent)
            os.write(write_end, b"went on probing\\n")
            os._exit(0)
        os._exit(0)
    os.close(write_end)
    os.waitpid(middle, 0)
    told = b""
    while chunk := os.read(read_end, 100):
        told += chunk
    os.wait()  # the worker, now a child of this process
    sys.stdout.write(told.decode())
""")


def test_a_worker_orphaned_before_it_could_follow_its_parent_ends_under_a_subreaper():
    """Its rows would reach nobody, and --resume would probe its endpoints again: a second dummy login each."""
    done = subprocess.run(
        [sys.executable, "-c", ORPHAN],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "orphaned under pid 0 from the subreaper\n"


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
    scan_line, *rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert scan_line["record"] == "scan"  # stdout is a results file: the scan line, then the rows
    return rows


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
