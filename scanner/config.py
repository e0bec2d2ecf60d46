"""TOML scan configuration for repeatable validation: ``mailprobe scan -c site.toml``.

    targets = ["mail.example.com", "192.0.2.10"]
    ports = [110, 143, 993, 995]          # or "143,993"
    ca_file = "corp-ca.pem"               # relative paths are relative to this file
    expect_name = "mail.example.com"
    concurrency = 64
    timeout = 5.0
    login_probe = true
    confirm_over_tls = false              # repeat decided logins over TLS too
    source_address = "192.0.2.1"
    fail_on = "high"
    baseline = "before.jsonl"
    fail_on_regression = true
    output = "after.jsonl"
    format = "jsonl"
    policy = "policy.toml"                # or an inline [policy] table (same keys as a policy file)

The loader returns defaults keyed by the scan parser's ``dest`` names; options given on the command line win.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from scanner.errors import UsageError
from scanner.report.policy import check_severity, policy_from_dict
from scanner.tomlfile import read_toml

_PATHS = ("ca_file", "baseline", "output")
_TYPES: dict[str, type | tuple[type, ...]] = {
    "expect_name": str,
    "concurrency": int,
    "timeout": (int, float),
    "login_probe": bool,
    "confirm_over_tls": bool,
    "source_address": str,
    "fail_on_regression": bool,
    "format": str,
    **{name: str for name in _PATHS},
}
KEYS = frozenset({"targets", "ports", "policy", "fail_on", *_TYPES})


def load_scan_config(path: str | Path) -> dict[str, Any]:
    """Defaults for the scan namespace: targets (list[str]), ports ("110,143"), ca_file, baseline, output
    (absolute paths), expect_name, concurrency, timeout, no_login_probe, confirm_over_tls, source_address, fail_on,
    fail_on_regression, format, policy (absolute path str, or a Policy for an inline table). Only keys present
    in the file are returned. Raises UsageError for a missing file, bad TOML, an unknown key or a bad value."""
    file = Path(path)
    data = read_toml(file, "config file")
    where = f"config file {file}"
    unknown = set(data) - KEYS
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(KEYS))}")
    base = file.resolve().parent
    out: dict[str, Any] = {}
    for key, kind in _TYPES.items():
        if key not in data:
            continue
        value = data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise UsageError(f"{where}: {key} has the wrong type ({type(value).__name__})")
        if key in _PATHS:
            value = str((base / value).resolve()) if value != "-" else value
        if key == "login_probe":
            out["no_login_probe"] = not value
            continue
        out[key] = value
    if "targets" in data:
        targets = data["targets"]
        if isinstance(targets, str):
            targets = [targets]
        if not isinstance(targets, list) or not all(isinstance(t, str) and t for t in targets):
            raise UsageError(f"{where}: targets must be a list of strings")
        out["targets"] = targets
    if "ports" in data:
        ports = data["ports"]
        if isinstance(ports, list) and all(isinstance(p, (int, str)) and not isinstance(p, bool) for p in ports):
            out["ports"] = ",".join(str(p) for p in ports)
        elif isinstance(ports, (str, int)) and not isinstance(ports, bool):
            out["ports"] = str(ports)
        else:
            raise UsageError(f"{where}: ports must be a list of ports or a string like \"143,993\"")
    if "fail_on" in data:
        out["fail_on"] = check_severity(data["fail_on"], where=f"{where}: fail_on")
    if "policy" in data:
        policy = data["policy"]
        if isinstance(policy, str):
            out["policy"] = str((base / policy).resolve())
        elif isinstance(policy, dict):
            out["policy"] = policy_from_dict(policy, source=f"{where} [policy]")
        else:
            raise UsageError(f"{where}: policy must be a file name or a [policy] table")
    return out


def apply_scan_config(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> None:
    """Fill ``args`` from ``args.config`` (if set) where the command line left the parser's default.
    Targets from the file are used only when none were given on the command line. ``parser`` is the scan
    subparser; by default the one add_validation_arguments recorded in the namespace."""
    path = getattr(args, "config", None)
    if not path:
        return
    parser = parser or getattr(args, "validation_parser", None)
    if parser is None:
        raise TypeError("apply_scan_config needs the scan parser (or add_validation_arguments on it)")
    for key, value in load_scan_config(path).items():
        current = getattr(args, key, None)
        if key == "targets":
            if not current:
                args.targets = value
        elif not hasattr(args, key) or current == parser.get_default(key):
            setattr(args, key, value)
