"""`mailprobe check` as a monitoring system runs it, against real Dovecot configured each way: the plugin status line,
exit codes 0/1/2/3 and performance data; Prometheus text read back with prometheus_client's own parser."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from scanner import certgen

ROOT = Path(__file__).resolve().parents[2]
NAME = "mail.mailprobe.test"


def check(*argv: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "scanner", "check", *argv]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=180, cwd=ROOT, stdin=subprocess.DEVNULL, check=False
    )


def common(dv, ca_file: Path) -> list[str]:  # type: ignore[no-untyped-def]
    ports = f"pop3:{dv.ports.pop3},imap:{dv.ports.imap},imaps:{dv.ports.imaps},pop3s:{dv.ports.pop3s}"
    return [
        dv.address,
        "-p",
        ports,
        "--source-address",
        "127.0.0.1",
        "--ca-file",
        str(ca_file),
        "--expect-name",
        NAME,
        "--timeout",
        "3",
        "--no-legacy-tls",
    ]


def samples(text: str) -> dict[str, list]:  # type: ignore[type-arg]
    """Prometheus families by name (parsed by the official text-format parser)."""
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


@pytest.fixture
def ca(tmp_path: Path):  # type: ignore[no-untyped-def]
    authority = certgen.make_ca("check test CA")
    return authority, authority.write(tmp_path, "ca")


@pytest.mark.dovecot
def test_check_is_critical_on_plaintext_then_ok_after_the_fix(dovecot_factory, ca, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    authority, ca_file = ca
    cert, key = authority.issue([NAME], days=200).write(tmp_path, "server")
    dv = dovecot_factory("plaintext_allowed", cert_path=cert, key_path=key, dns_name=NAME)

    bad = check(*common(dv, ca_file))
    assert bad.returncode == 2, bad.stdout + bad.stderr
    status, *details = bad.stdout.splitlines()
    assert status.startswith("MAILPROBE CRITICAL - ") and "Plaintext login accepted" in status
    text, perf = status.split(" | ")
    assert f"'{dv.address}:{dv.ports.imaps} cert_days'=" in perf and ";30:;7:" in perf
    assert re.search(rf"'{re.escape(dv.address)}:{dv.ports.imap} time'=\d+\.\d+s;;;0", perf)
    assert len(details) == 4 and any(line.startswith("CRITICAL ") and "First step:" in line for line in details)

    dv.reconfigure("plaintext_refused")
    good = check(*common(dv, ca_file))
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.startswith("MAILPROBE OK - 4 endpoints OK: plaintext login refused, certificates valid for")

    metrics = samples(check(*common(dv, ca_file), "--format", "prometheus").stdout)
    verdicts = {s.labels["port"]: s.labels["verdict"] for s in metrics["mailprobe_plaintext_login"]}
    assert verdicts == {
        str(dv.ports.pop3): "refused",
        str(dv.ports.imap): "refused",
        str(dv.ports.imaps): "not_applicable",
        str(dv.ports.pop3s): "not_applicable",
    }
    assert {s.value for s in metrics["mailprobe_endpoint_status"]} == {0}
    assert len(metrics["mailprobe_findings"]) == 4 * 5  # every endpoint, every severity
    expiry = metrics["mailprobe_certificate_expiry_timestamp_seconds"]
    assert len(expiry) == 4 and all(190 * 86400 < s.value - time.time() < 201 * 86400 for s in expiry)


@pytest.mark.dovecot
def test_check_warns_before_a_certificate_expires(dovecot_factory, ca, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    authority, ca_file = ca
    cert, key = authority.issue([NAME], days=12).write(tmp_path, "soon")
    dv = dovecot_factory("plaintext_refused", cert_path=cert, key_path=key, dns_name=NAME)
    done = check(*common(dv, ca_file))
    assert done.returncode == 1, done.stdout + done.stderr  # 12 days: inside --cert-warning 30, outside 7
    assert done.stdout.startswith("MAILPROBE WARNING - ") and "certificate expires in 1" in done.stdout
    critical = check(*common(dv, ca_file), "--cert-critical", "14")
    assert critical.returncode == 2 and critical.stdout.startswith("MAILPROBE CRITICAL - ")


@pytest.mark.dovecot
def test_serve_answers_scrapes_on_loopback(dovecot_factory, ca, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    authority, ca_file = ca
    cert, key = authority.issue([NAME], days=200).write(tmp_path, "server")
    dv = dovecot_factory("plaintext_allowed", cert_path=cert, key_path=key, dns_name=NAME)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    textfile = tmp_path / "mailprobe.prom"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scanner",
            "check",
            *common(dv, ca_file),
            "--serve",
            str(port),
            "--prometheus-file",
            str(textfile),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "mailprobe_endpoint_status{" not in body:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                    body = response.read().decode()
            except OSError:
                pass
            if "mailprobe_endpoint_status{" not in body:
                time.sleep(0.5)
        metrics = samples(body)
        accepted = [s for s in metrics["mailprobe_plaintext_login"] if s.labels["verdict"] == "accepted"]
        assert {s.labels["port"] for s in accepted} == {str(dv.ports.pop3), str(dv.ports.imap)}
        assert [s.value for s in metrics["mailprobe_check_status"]] == [2]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "serving metrics on http://127.0.0.1:" in (proc.stderr.read() if proc.stderr else "")


def test_bad_usage_is_unknown_with_exit_3(tmp_path: Path) -> None:
    for argv in (
        ["--bogus", "127.0.0.1"],
        ["127.0.0.1", "--warning", "urgent"],
        [],
        ["not a host!"],
        ["--from-file", str(tmp_path / "missing.jsonl")],
        ["127.0.0.1", "--cert-warning", "5"],
    ):
        done = check(*argv)
        assert done.returncode == 3, (argv, done.stdout, done.stderr)
        assert done.stdout.startswith("MAILPROBE UNKNOWN - ") and done.stdout.count("\n") == 1, done.stdout


def test_from_file_judges_the_latest_results(tmp_path: Path) -> None:
    from tests.report.report_samples import PLAINTEXT_ACCEPTED, site
    from tests.report.report_samples import write_jsonl as write

    path = write(tmp_path / "r.jsonl", site("accepted", (PLAINTEXT_ACCEPTED,)))
    done = check("--from-file", path)
    assert done.returncode == 2 and done.stdout.startswith("MAILPROBE CRITICAL - ")
    prom = tmp_path / "textfile" / "mailprobe.prom"
    prom.parent.mkdir()
    done = check(
        "--from-file",
        path,
        "--prometheus-file",
        str(prom),
        "--critical",
        "none",
        "--warning",
        "none",
        "--cert-warning",
        "0",
        "--cert-critical",
        "0",
    )
    assert done.returncode == 0, done.stdout
    metrics = samples(prom.read_text())
    assert {s.labels["verdict"] for s in metrics["mailprobe_plaintext_login"]} == {"accepted", "not_applicable"}
    critical = [s for s in metrics["mailprobe_findings"] if s.labels["severity"] == "critical" and s.value]
    assert {s.labels["port"] for s in critical} == {"110", "143"}
