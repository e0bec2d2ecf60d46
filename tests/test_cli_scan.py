"""`mailprobe scan` as a user runs it: exit codes, one-line errors, output formats, against real local servers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def mailprobe(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scanner", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["scan", "127.0.0.2", "-p", "99999"], "99999"),
        (["scan", "127.0.0.2", "-p", "imap"], "imap"),
        (["scan", "127.0.0.300"], "127.0.0.300"),
        (["scan", "127.0.0.0/33"], "127.0.0.0/33"),
        (["scan", "127.0.0.2", "--timeout", "-1"], "-1"),
        (["scan", "127.0.0.2", "--fail-on", "severe"], "severe"),
        (["scan", "127.0.0.2", "--ca-file", "/nonexistent/ca.pem"], "/nonexistent/ca.pem"),
        (["scan"], "target"),
    ],
)
def test_bad_input_is_one_readable_line_and_exit_2(args, words):
    done = mailprobe(*args, "--no-tui")
    assert done.returncode == 2, done
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1, done.stderr
    assert words in errors[0]
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.dovecot
def test_scan_json_and_jsonl_against_real_dovecot(dovecot_plaintext_allowed, tmp_path):
    address = dovecot_plaintext_allowed.address
    out = tmp_path / "results.jsonl"
    done = mailprobe(
        "scan", address, "--source-address", "127.0.0.1", "--format", "json", "-o", str(out), "--no-legacy-tls"
    )
    assert done.returncode == 1, done.stderr  # a critical finding is at or above the default --fail-on high
    rows = json.loads(done.stdout)
    assert sorted(r["port"] for r in rows) == [110, 143, 993, 995]
    by_port = {r["port"]: r for r in rows}
    assert by_port[143]["plaintext_login"]["verdict"] == "accepted"
    assert by_port[110]["plaintext_login"]["verdict"] == "accepted"
    lines = out.read_text().splitlines()
    assert sorted(json.loads(line)["port"] for line in lines) == [110, 143, 993, 995]


@pytest.mark.dovecot
def test_scan_exit_code_follows_fail_on(dovecot_plaintext_refused):
    address = dovecot_plaintext_refused.address
    # The harness's certificate is self-signed (high): --fail-on critical passes, --fail-on high fails.
    ok = mailprobe(
        "scan", address, "-p", "143", "--source-address", "127.0.0.1", "--fail-on", "critical", "--no-legacy-tls"
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "refused" in ok.stdout
    failing = mailprobe("scan", address, "-p", "143", "--source-address", "127.0.0.1", "--no-legacy-tls")
    assert failing.returncode == 1


def test_closed_ports_are_rows_not_crashes(tmp_path):
    out = tmp_path / "r.jsonl"
    done = mailprobe(
        "scan", "127.0.0.254", "-p", "imap:1,pop3s:2", "--format", "json", "-o", str(out), "--timeout", "2"
    )
    assert done.returncode == 3, done.stderr  # nothing reachable: the scan could not validate anything
    assert "Nothing reachable" in done.stderr
    rows = json.loads(done.stdout)
    assert [(r["port"], r["state"]) for r in sorted(rows, key=lambda r: r["port"])] == [(1, "closed"), (2, "closed")]


@pytest.mark.dovecot
def test_host_level_findings_in_the_table(dovecot_ssl_no):
    done = mailprobe("scan", dovecot_ssl_no.address, "--source-address", "127.0.0.1", "--no-legacy-tls")
    assert done.returncode == 1
    # 993/995 are closed on an ssl=no Dovecot: the cleartext ports get implicit-tls-missing; closed rows are counted.
    assert "implicit-tls-missing" in done.stdout
    assert "starttls-missing" in done.stdout
    assert "2 closed" in done.stdout
