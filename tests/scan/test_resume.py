"""A real `mailprobe scan` killed with SIGKILL midway leaves a valid JSON Lines file that --resume completes
without repeating an endpoint. Targets are closed ports on 127.0.0.x (answered by a reset at once); --rate keeps
the first run slow enough to be killed in the middle."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def closed_ports(count: int) -> list[int]:
    ports = []
    for _ in range(count):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    return ports


def scan_cmd(out: Path, ports: list[int], *extra: str) -> list[str]:
    port_list = ",".join(
        f"{scheme}:{port}" for scheme, port in zip(("imap", "imaps", "pop3", "pop3s"), ports, strict=True)
    )
    return [
        sys.executable,
        "-m",
        "scanner",
        "scan",
        "127.0.0.100-149",
        "-p",
        port_list,
        "--no-tui",
        "--format",
        "jsonl",
        "--timeout",
        "1",
        "--no-ptr",
        "--no-legacy-tls",
        "--source-address",
        "127.0.0.1",
        *extra,
    ]


def parses(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def lines_of(path: Path) -> list[dict]:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    rows = [json.loads(line) for line in data.splitlines()]
    return [row for row in rows if row.get("record") != "scan"]  # the results; each run starts with a scan line


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigkill_midway_then_resume_completes_without_repeats(tmp_path, workers):
    out = tmp_path / "scan.jsonl"
    ports = closed_ports(4)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        scan_cmd(out, ports, "-o", str(out), "--rate", "40", "--workers", workers),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not out.exists() or out.read_bytes().count(b"\n") < 31):  # scan line + 30
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # every finished line is whole; at most the line being written at the kill may be unfinished (Linux can cut a
    # write short on SIGKILL): --resume cuts a torn tail off, and keeps a row cut just before its newline
    *whole, tail = out.read_bytes().split(b"\n")
    first = [row for row in map(json.loads, whole + [tail] if parses(tail) else whole) if row.get("record") != "scan"]
    assert 30 <= len(first) < 200

    done = subprocess.run(
        scan_cmd(out, ports, "--resume", str(out), "--workers", workers),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3, done.stderr  # 3: the scan ran, but every endpoint was closed
    after = lines_of(out)
    keys = [(row["address"], row["port"]) for row in after]
    assert len(keys) == len(set(keys)) == 200  # 50 addresses x 4 ports, each exactly once
    assert after[: len(first)] == first  # the first run's lines are kept as they were
    assert {row["state"] for row in after} == {"closed"}
    # the resumed run printed only the endpoints it scanned, after the scan line it continues
    scan_line, *printed = done.stdout.splitlines()
    assert json.loads(scan_line)["resumed"] is True and len(printed) == 200 - len(first)


def test_resume_after_a_kill_cut_the_write_just_before_a_newline(tmp_path):
    """SIGKILL cuts a write on a page boundary, so the file can end with a whole row missing only its newline. That
    endpoint was probed and its row reached the file: --resume neither probes it again nor loses it, and probes
    exactly the endpoints without a row."""
    out = tmp_path / "scan.jsonl"
    ports = closed_ports(4)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    full = subprocess.run(scan_cmd(out, ports, "-o", str(out)), cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert full.returncode == 3, full.stderr
    scan, *rows = out.read_bytes().splitlines(keepends=True)
    kept = rows[:60]
    out.write_bytes(scan + b"".join(kept).removesuffix(b"\n"))  # the 60th row whole but for its newline

    done = subprocess.run(
        scan_cmd(out, ports, "--resume", str(out)), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 3, done.stderr
    after = lines_of(out)
    keys = [(row["address"], row["port"]) for row in after]
    assert len(keys) == len(set(keys)) == 200  # each endpoint exactly once: none repeated, none lost
    assert after[:60] == [json.loads(row) for row in kept]
    assert len(done.stdout.splitlines()) == 1 + 140  # the scan line, then only the endpoints without a row


def test_resume_of_a_missing_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A typo in --resume must not silently start a new scan: one line naming the file, exit 2, nothing scanned."""
    missing = tmp_path / "no-such.jsonl"
    done = subprocess.run(
        scan_cmd(missing, [1, 2, 3, 4], "--resume", str(missing)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"mailprobe: error: --resume {missing}: no such file; --resume completes a scan written with -o FILE "
        f"(to start one: -o {missing})"
    ]
    assert done.stdout == "" and not missing.exists()
