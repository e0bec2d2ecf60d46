"""What a scan imports before its first connect: only the engine, never the reports, TLS analysis, DNS or the TUI.

Start-up time is measured in docs/scanning.md; this is the behaviour behind it. Each case runs a real
``mailprobe scan`` of closed loopback ports in a fresh interpreter whose first ``connect_ex`` (the engine's
connect) writes down every module imported since the interpreter started, in the process that connects (a forked
worker included).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Imported since start-up (site's own imports are not the scan's), written by the first connect of each process.
_HOOK = """
import json, os, socket, sys
before = set(sys.modules)
real_connect_ex = socket.socket.connect_ex
connected = []

def connect_ex(self, address):
    if not connected:
        connected.append(address)
        with open(os.environ["MODULES_AT_FIRST_CONNECT"], "a") as out:
            out.write(json.dumps([os.getpid(), sorted(set(sys.modules) - before)]) + "\\n")
    return real_connect_ex(self, address)

socket.socket.connect_ex = connect_ex
from scanner.cli import main
sys.exit(main(sys.argv[1:]))
"""

# Nothing a first connect needs. ssl is not among them: asyncio itself imports it (asyncio.base_events).
HEAVY = (
    "scanner.report",  # reports, validation (baseline, policy), diff, monitoring
    "scanner.output",
    "scanner.config",
    "scanner.tui",
    "scanner.verdicts.certificates",
    "scanner.verdicts.certificate_fixes",
    "scanner.verdicts.certificate_host",
    "scanner.verdicts.host",
    "scanner.tls.channel",
    "scanner.tls.legacy",
    "scanner.tls.certificate",
    "scanner.tls.verify",
    "scanner.tls.trust",
    "scanner.targets.dns",
    "scanner.probe.tls_inspect",
    "scanner.commands.check",
    "scanner.commands.demo",
    "scanner.commands.diff",
    "scanner.commands.logs",
    "scanner.commands.merge",
    "scanner.commands.report",
    "certifi",
    "cryptography",
    "OpenSSL",
    "dns",  # dnspython
    "textual",
    "rich",
    "tomllib",
    "html",
    "prometheus_client",
    "ray",  # the optional extra behind --ray
    "scanner.scan.ray_scan",
)


def heavy_among(modules: list[str]) -> list[str]:
    return [name for name in modules if any(name == h or name.startswith(h + ".") for h in HEAVY)]


def modules_at_first_connect(tmp_path: Path, *argv: str) -> dict[int, list[str]]:
    """Run ``mailprobe scan ARGV`` (closed loopback ports, --fail-on none) and return, per process that connected
    (by pid), the modules imported before its first connect."""
    record = tmp_path / "modules.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", _HOOK, "scan", *argv, "--no-ptr", "--fail-on", "none"],
        cwd=tmp_path,
        env={**os.environ, "MODULES_AT_FIRST_CONNECT": str(record)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr  # nothing reachable: every endpoint was asked, none answered
    assert record.exists(), f"the scan never called connect_ex: {done.stderr}"
    return dict(json.loads(line) for line in record.read_text().splitlines())


@pytest.mark.parametrize(
    "argv",
    [
        ["127.0.0.1", "--ports", "imap:1", "--no-tui"],  # the table on stdout
        ["127.0.0.0/30", "--ports", "imap:1,pop3:2", "--format", "jsonl"],
        ["127.0.0.1-3", "-p", "imaps:1,pop3s:2", "--format", "json", "-o", "results.jsonl"],
    ],
    ids=["table", "range-jsonl", "json-and-file"],
)
def test_a_scan_connects_before_importing_reports_tls_analysis_dns_or_tui(tmp_path: Path, argv: list[str]) -> None:
    (imported,) = modules_at_first_connect(tmp_path, *argv).values()
    assert "scanner.probe.conversation" in imported  # the hook saw the scan's own imports
    assert heavy_among(imported) == []


def test_forked_workers_connect_before_importing_them_either(tmp_path: Path) -> None:
    per_process = modules_at_first_connect(tmp_path, "127.0.0.0/24", "--ports", "imap:1", "--workers", "2")
    assert len(per_process) == 2  # two processes probed (the parent takes a share too), each hooked
    for imported in per_process.values():
        assert heavy_among(imported) == []


def test_the_guard_sees_a_heavy_import(tmp_path: Path) -> None:
    """The same run with a policy file must load the policy before its first connect: proof the hook records."""
    (tmp_path / "policy.toml").write_text('plaintext_login = "refused"\n')
    argv = ("127.0.0.1", "-p", "imap:1", "--no-tui", "--policy", "policy.toml")
    (imported,) = modules_at_first_connect(tmp_path, *argv).values()
    assert "scanner.report.policy" in heavy_among(imported)
