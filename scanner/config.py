"""TOML scan configuration for repeatable validation: ``mailprobe scan -c site.toml``.

    targets = ["mail.example.com", "192.0.2.10"]
    ports = [110, 143, 993, 995]          # or "143,993"
    ca_file = "corp-ca.pem"               # relative paths are relative to this file
    expect_name = "mail.example.com"
    expiry_warn = 30
    concurrency = 64
    timeout = 5.0
    login_probe = true
    ntlm_probe = true                     # false: no NTLM challenge read where NTLM is offered
    confirm_over_tls = false              # repeat decided logins over TLS too
    source_address = "192.0.2.1"
    fail_on = "high"                      # or "none"
    baseline = "before.jsonl"
    fail_on_regression = true
    output = "after.jsonl"
    format = "jsonl"
    policy = "policy.toml"                # or an inline [policy] table (same keys as a policy file)

Every key is a field of scanner.settings.ScanSettings and is checked by the same rule as its command-line option;
this module only reads the file, rejects unknown keys and makes file names relative to the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scanner.errors import UsageError
from scanner.settings import CONFIG_KEYS, RULES
from scanner.tomlfile import read_toml


def load_scan_config(path: str | Path) -> dict[str, Any]:
    """The file's keys and raw values, file names resolved against the file's folder ('-' stays stdin).
    Raises UsageError for a missing file, bad TOML or an unknown key; values are checked by build_settings."""
    file = Path(path)
    data = read_toml(file, "config file")
    unknown = set(data) - CONFIG_KEYS
    if unknown:
        raise UsageError(
            f"config file {file}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(CONFIG_KEYS))}"
        )
    base = file.resolve().parent
    return {key: _relative(value, base) if RULES[key].path else value for key, value in data.items()}


def _relative(value: Any, base: Path) -> Any:
    if isinstance(value, str):
        return value if value == "-" else str((base / value).resolve())
    if isinstance(value, list):
        return [_relative(v, base) for v in value]
    return value  # a wrong type (or an inline policy table) is left for the setting's rule
