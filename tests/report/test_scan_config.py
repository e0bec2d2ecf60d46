"""TOML scan configuration: defaults for the scan namespace; the command line wins."""

from __future__ import annotations

import argparse
import textwrap

import pytest

from scanner.config import apply_scan_config, load_scan_config
from scanner.errors import UsageError
from scanner.report.policy import Policy
from scanner.report.validate import add_validation_arguments

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


def test_config_values_and_paths_relative_to_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = load_scan_config(write(tmp_path, SITE))
    base = tmp_path.resolve()
    assert config == {
        "targets": ["mail.example.com", "192.0.2.10"],
        "ports": "143,993",
        "ca_file": str(base / "corp-ca.pem"),
        "expect_name": "mail.example.com",
        "concurrency": 8,
        "timeout": 2.5,
        "no_login_probe": True,
        "confirm_over_tls": True,
        "fail_on": "high",
        "baseline": str(base / "runs" / "before.jsonl"),
        "policy": str(base / "policy.toml"),
    }


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
    policy = load_scan_config(write(tmp_path, text))["policy"]
    assert isinstance(policy, Policy)
    assert policy.plaintext_login == "refused" and policy.exceptions[0].reason == "cut-over weekend"


def scan_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("targets", nargs="*")
    parser.add_argument("-p", "--ports", default="110,143,993,995")
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--fail-on")
    add_validation_arguments(parser)
    return parser


def test_command_line_wins_over_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, SITE)
    parser = scan_parser()
    args = parser.parse_args(["-c", path, "-p", "143", "--fail-on", "critical"])
    apply_scan_config(args)
    assert args.targets == ["mail.example.com", "192.0.2.10"]
    assert args.ports == "143"  # given on the command line
    assert args.fail_on == "critical"
    assert args.concurrency == 8  # from the file
    assert args.expect_name == "mail.example.com"  # keys the parser lacks are added
    args = parser.parse_args(["-c", path, "imap.example.org"])
    apply_scan_config(args)
    assert args.targets == ["imap.example.org"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("targets = [", "bad TOML"),
        ("target = ['a']", "unknown key(s) target"),
        ('fail_on = "severe"', "unknown severity 'severe'"),
        ('concurrency = "8"', "concurrency has the wrong type"),
        ("ports = [true]", "ports must be"),
        ("policy = 3", "policy must be a file name"),
        ('[policy]\nplaintext_login = "never"', "plaintext_login must be"),
    ],
)
def test_bad_config_is_a_usage_error(tmp_path, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_scan_config(write(tmp_path, text))


def test_missing_config_is_a_usage_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match="no such file"):
        load_scan_config(tmp_path / "nope.toml")
