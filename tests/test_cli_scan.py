"""`mailprobe scan` as a user runs it: exit codes, one-line errors, output formats, against real local servers."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.model import EndpointResult
from scanner.results_file import read_result_file

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
    document = json.loads(done.stdout)
    rows = document["results"]
    assert sorted(r["port"] for r in rows) == [110, 143, 993, 995]
    by_port = {r["port"]: r for r in rows}
    assert by_port[143]["plaintext_login"]["verdict"] == "accepted"
    assert by_port[110]["plaintext_login"]["verdict"] == "accepted"
    file = read_result_file(out)
    assert sorted(r.port for r in file.results) == [110, 143, 993, 995] and file.lines == 4
    (scan,) = file.scans  # the file says which scan it holds: targets and options
    assert scan.targets == (address,) and scan.options["ports"] == "110,143,993,995" and scan.started.endswith("Z")
    # stdout carries the same scan line as the file, and the same rows
    assert document["scan"]["record"] == "scan" and document["scan"]["scan_id"] == scan.scan_id
    assert document["scan"]["schema_version"] == 2
    assert [EndpointResult.from_dict(r) for r in rows] == list(file.results)


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


@pytest.mark.dovecot
def test_confirm_over_tls_sends_the_login_over_tls_too(dovecot_plaintext_refused):
    address = dovecot_plaintext_refused.address
    common = (
        "scan",
        address,
        "-p",
        "143",
        "--source-address",
        "127.0.0.1",
        "--no-legacy-tls",
        "--format",
        "json",
        "--fail-on",
        "none",
    )
    plain = json.loads(mailprobe(*common).stdout)["results"][0]
    confirmed = json.loads(mailprobe(*common, "--confirm-over-tls").stdout)["results"][0]
    assert plain["plaintext_login"]["verdict"] == confirmed["plaintext_login"]["verdict"] == "refused"
    over_tls = [t["text"] for t in confirmed["transcript"] if t["tls"] and t["direction"] == "C"]
    assert any("LOGIN" in text for text in over_tls)
    assert not any("LOGIN" in t["text"] for t in plain["transcript"] if t["tls"] and t["direction"] == "C")
    assert any("Authentication failed" in e for e in confirmed["plaintext_login"]["evidence"])


def test_closed_ports_are_rows_not_crashes(tmp_path):
    out = tmp_path / "r.jsonl"
    done = mailprobe(
        "scan", "127.0.0.254", "-p", "imap:1,pop3s:2", "--format", "json", "-o", str(out), "--timeout", "2"
    )
    assert done.returncode == 3, done.stderr  # nothing reachable: the scan could not validate anything
    assert "Nothing reachable" in done.stderr
    rows = json.loads(done.stdout)["results"]
    assert [(r["port"], r["state"]) for r in sorted(rows, key=lambda r: r["port"])] == [(1, "closed"), (2, "closed")]


def test_a_concurrency_past_the_descriptor_limit_is_lowered_and_said(tmp_path):
    done = mailprobe("scan", "127.0.0.254", "-p", "imap:1", "--format", "json", "--concurrency", "100000000")
    lowered = [line for line in done.stderr.splitlines() if "--concurrency" in line]
    assert len(lowered) == 1 and "lowered to" in lowered[0] and "ulimit -n" in lowered[0], done.stderr
    assert [r["state"] for r in json.loads(done.stdout)["results"]] == ["closed"]  # a row, not "Too many open files"


@pytest.mark.dovecot
def test_host_level_findings_in_the_table(dovecot_ssl_no):
    done = mailprobe("scan", dovecot_ssl_no.address, "--source-address", "127.0.0.1", "--no-legacy-tls")
    assert done.returncode == 1
    # 993/995 are closed on an ssl=no Dovecot: the cleartext ports get implicit-tls-missing; closed rows are counted.
    assert "implicit-tls-missing" in done.stdout
    assert "starttls-missing" in done.stdout
    assert "2 closed" in done.stdout


def test_unresolvable_name_is_a_usage_error(tmp_path):
    """A typo in a name on the command line: one line, exit 2, no probe (DNS from a local test server only)."""
    from tests.targets.dnsserver import LocalDns

    async def run() -> subprocess.CompletedProcess[str]:
        async with LocalDns({"mail.example.test.": {"A": ["127.0.0.254"]}}, address="127.0.0.54") as dns:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "scanner",
                "scan",
                "nosuch.example.test",
                "--nameserver",
                f"{dns.address}:{dns.port}",
                "--no-tui",
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(process.communicate(), 60)
            return subprocess.CompletedProcess([], process.returncode or 0, out.decode(), err.decode())

    done = asyncio.run(run())
    assert done.returncode == 2, done
    assert done.stderr.strip() == "mailprobe: error: cannot resolve nosuch.example.test: no such name in DNS"


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path):
    out = tmp_path / "partial.jsonl"

    async def run() -> tuple[int, str]:
        connected = asyncio.Event()
        held: list[asyncio.StreamWriter] = []

        def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            held.append(writer)  # accepts, never speaks: the scan waits on it
            connected.set()

        server = await asyncio.start_server(silent, "127.0.0.33", 0)
        port = server.sockets[0].getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "scanner",
            "scan",
            f"imap://127.0.0.33:{port}",
            "--timeout",
            "30",
            "-o",
            str(out),
            "--no-tui",
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        await asyncio.wait_for(connected.wait(), 60)  # the scan is under way: interrupt it in the middle
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(process.communicate(), 30)
        server.close()
        return process.returncode or 0, err.decode()

    code, err = asyncio.run(run())
    assert code == 130, err
    assert f"--resume {out}" in err
    assert err.count("interrupted") == 1, err  # one line says it, with what was kept
    assert "Traceback" not in err


@pytest.mark.dovecot
def test_table_says_what_is_wrong_and_counts_agree_with_stderr(dovecot_plaintext_allowed):
    address = dovecot_plaintext_allowed.address
    done = mailprobe(
        "scan", address, "--source-address", "127.0.0.1", "--no-legacy-tls", "--no-tui", "--fail-on", "none"
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "What to fix, worst first:" in out
    block = out.split("What to fix, worst first:\n", 1)[1]
    first, step = block.splitlines()[:2]
    assert first.startswith(f"  {address}:")
    assert "Plaintext login accepted (critical: plaintext-login-accepted)" in first
    assert step.startswith("    first step: ") and len(step) > 30
    table_counts = out.strip().splitlines()[-1]  # "4 endpoints (4 open); findings: 2 critical, ..."
    stderr_counts = done.stderr.strip().splitlines()[-1]  # "mailprobe: 4 endpoints in 2.3s (2/s): 4 open; findings..."
    assert table_counts.split("; ", 1)[1] == stderr_counts.split("; ", 1)[1], (table_counts, stderr_counts)
    assert table_counts.startswith("4 endpoints (4 open); findings: 2 critical")
