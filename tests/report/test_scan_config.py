"""Scan settings from the command line and a TOML config file: one rule per value, the command line wins."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest

from scanner.cli import build_parser
from scanner.commands.scan import settings_from_args
from scanner.errors import UsageError
from scanner.report.policy import Policy
from scanner.settings import ScanSettings

SITE = """\
targets = ["mail.example.com", "192.0.2.10"]
ports = [143, 993]
ca_file = "corp-ca.pem"
expect_name = "mail.example.com"
concurrency = 8
timeout = 2.5
login_probe = false
confirm_over_tls = true
fail_on = "HIGH"
baseline = "runs/before.jsonl"
policy = "policy.toml"
"""


def write(tmp_path, text: str, name: str = "site.toml") -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def settings(*argv: str) -> ScanSettings:
    """`mailprobe scan ARGV` as the scan command reads it, config file included."""
    return settings_from_args(build_parser().parse_args(["scan", *argv]))


def test_config_values_and_paths_relative_to_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    got = settings("-c", write(tmp_path, SITE))
    base = tmp_path.resolve()
    assert got.targets == ("mail.example.com", "192.0.2.10")
    assert got.ports == "143,993"
    assert got.ca_file == str(base / "corp-ca.pem")
    assert got.expect_name == "mail.example.com"
    assert (got.concurrency, got.timeout, got.login_probe, got.confirm_over_tls) == (8, 2.5, False, True)
    assert got.fail_on == "high"
    assert got.baseline == str(base / "runs" / "before.jsonl")
    assert got.policy == str(base / "policy.toml")
    assert got.expiry_warn == 30 and got.per_host == 2  # not in the file: the defaults


def test_inline_policy_table_becomes_a_policy(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = """\
    targets = ["mail.example.com"]
    [policy]
    plaintext_login = "refused"
    [[policy.exceptions]]
    host = "mail.example.com"
    rule = "plaintext-login"
    reason = "cut-over weekend"
    expires = 2030-01-01
    """
    policy = settings("-c", write(tmp_path, text)).policy
    assert isinstance(policy, Policy)
    assert policy.plaintext_login == "refused" and policy.exceptions[0].reason == "cut-over weekend"


def test_command_line_wins_over_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, SITE + "per_host = 4\n")
    got = settings("-c", path, "-p", "143", "--fail-on", "critical", "--timeout", "5", "--per-host", "2")
    assert got.targets == ("mail.example.com", "192.0.2.10")
    assert got.ports == "143"  # given on the command line
    assert got.fail_on == "critical"
    assert got.timeout == 5.0  # typed, although 5 is the default: the command line still wins
    assert got.per_host == 2
    assert got.concurrency == 8  # from the file
    assert got.expect_name == "mail.example.com"
    assert settings("-c", path, "imap.example.org").targets == ("imap.example.org",)


def test_flags_beat_the_file_end_to_end(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The whole command: a file that would fail the scan before any packet, a command line that fixes it."""
    path = write(tmp_path, 'targets = ["127.0.0.1"]\nports = "143"\nfail_on = "nonsense"\n')
    done = subprocess.run(
        [sys.executable, "-m", "scanner", "scan", "-c", path, "--fail-on", "high", "--timeout", "-1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == "mailprobe: error: --timeout: must be above 0, got '-1'\n"  # the file's value is not used


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("targets = [", "bad TOML"),
        ("target = ['a']", "unknown key(s) target"),
        ('fail_on = "severe"', "unknown severity 'severe'"),
        ('concurrency = "eight"', "concurrency: expected a whole number, got 'eight'"),
        ("concurrency = -4", "concurrency: must be at least 1, got -4"),
        ("timeout = 0", "timeout: must be above 0, got 0"),
        ("expiry_warn = -3", "expiry_warn: must be at least 0, got -3"),
        ('source_address = "300.1.1.1"', "source_address: not an IPv4 or IPv6 address: '300.1.1.1'"),
        ("expect_name = 'bad name!'", "expect_name: not a host name: 'bad name!'"),
        ("ports = [true]", "ports: expected a list of ports"),
        ("ports = [1143]", "port 1143 is not a standard POP3/IMAP/submission port"),
        ("policy = 3", "policy: expected a policy file name"),
        ('[policy]\nplaintext_login = "never"', "plaintext_login must be"),
    ],
)
def test_bad_config_is_a_usage_error(tmp_path, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match=re.escape(message)):
        settings("-c", write(tmp_path, text))


def test_missing_config_is_a_usage_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match="no such file"):
        settings("-c", str(tmp_path / "nope.toml"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--concurrency", "-4"], "--concurrency: must be at least 1, got -4"),
        (["--expiry-warn", "-3"], "--expiry-warn: must be at least 0, got -3"),
        (["--source-address", "300.1.1.1"], "--source-address: not an IPv4 or IPv6 address: '300.1.1.1'"),
        (["--expect-name", "bad name!"], "--expect-name: not a host name: 'bad name!'"),
        (["--fail-on", "severe"], "--fail-on: unknown severity 'severe'"),
        (["--format", "xml"], "--format: unknown format 'xml'"),
        (["-p", "1143"], "port 1143 is not a standard POP3/IMAP/submission port"),
    ],
)
def test_the_same_rules_on_the_command_line(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        settings(*argv, "127.0.0.1")


def test_argparse_errors_are_one_line_with_a_hint() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scanner", "scan", "--no-such-flag", "127.0.0.1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--no-such-flag" in done.stderr and "'mailprobe scan --help'" in done.stderr


def test_the_ntlm_probe_can_be_left_out(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from scanner.commands.scan import probe_options

    assert probe_options(settings("mail.example.com")).ntlm_probe is True
    assert probe_options(settings("mail.example.com", "--no-ntlm-probe")).ntlm_probe is False
    config = write(tmp_path, 'targets = ["mail.example.com"]\nntlm_probe = false\n')
    left_out = settings("-c", config)
    assert probe_options(left_out).ntlm_probe is False
    assert left_out.recorded()["ntlm_probe"] is False and "no NTLM probe" in left_out.summary()
