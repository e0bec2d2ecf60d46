"""The settings of one scan: a typed, frozen object built once from the command line and a config file.

Both sources go through the same rule per setting, so ``--timeout -3`` and ``timeout = -3`` fail the same way (one
line, exit 2) and only the place named differs. The command line always beats the file: a setting counts as given
on the command line when the user typed it, even when the value typed equals the default. Nothing below the command
line sees argparse; the scan command turns these settings into a target plan, probe options and runner limits.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from scanner.errors import UsageError
from scanner.model import SEVERITIES
from scanner.targets.parsing import parse_ports, valid_name
from scanner.targets.planning import Shard

if TYPE_CHECKING:
    from scanner.report.policy import Policy  # imported by a [policy] table only: a scan without one never loads it

DEFAULT_PORTS_TEXT = "110,143,993,995"
FORMATS = ("table", "json", "jsonl")
DEFAULT_FAIL_ON = "high"  # the one default threshold of scan, diff, report and check


@dataclass(frozen=True)
class ScanSettings:
    # targets
    targets: tuple[str, ...] = ()
    input_lists: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    exclude_files: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    ports: str = DEFAULT_PORTS_TEXT
    yes: bool = False
    shard: str | None = None
    # DNS
    nameserver: str | None = None
    ptr: bool = True
    # probe
    login_probe: bool = True
    ntlm_probe: bool = True
    confirm_over_tls: bool = False
    timeout: float = 5.0
    fixed_timeout: bool = False
    ca_file: str | None = None
    expect_name: str | None = None
    expiry_warn: int = 30
    legacy_tls: bool = True
    tls_enumeration: bool = True  # versions, suites, groups per server, judged against Mozilla's profiles
    tls_profile: str = "intermediate"  # modern, intermediate or old: whose deviations become findings
    # every server's TLS configuration in full, even one whose chain was enumerated in the scan (else: confirmed)
    enumerate_every_server: bool = False
    injection_test: bool = True  # the STARTTLS command-injection test (one extra connection per STARTTLS port)
    source_address: str | None = None
    # engine
    concurrency: int | None = None
    per_host: int = 2
    rate: float | None = None
    workers: int | None = None
    discover: str | None = None  # zmap, masscan or off; None: automatic (see scanner.targets.discover)
    ray: str | None = None  # a Ray cluster's address (or auto): the scan runs on its nodes (scanner.scan.ray_scan)
    vantages: tuple[tuple[str, str], ...] = ()  # with ray: (node selector, targets) pairs
    # output
    format: str | None = None  # None: the TUI on a terminal, else the table
    output: str | None = None
    append: bool = False
    resume: str | None = None
    tui: bool = True
    # validation
    fail_on: str | None = DEFAULT_FAIL_ON  # None: no severity threshold ("none")
    baseline: str | None = None
    fail_on_regression: bool = False
    policy: str | Policy | None = None  # a policy file, or the inline [policy] table of a config file
    config: str | None = None

    def summary(self) -> str:
        """The settings that shape the verdicts, in a few words (TUI header, reports)."""
        words = [f"ports {self.ports}", f"timeout {self.timeout:g}s", f"fail-on {self.fail_on or 'none'}"]
        words.append("dummy login probe" if self.login_probe else "no login probe")
        if not self.ntlm_probe:
            words.append("no NTLM probe")
        if self.ca_file:
            words.append(f"CA {self.ca_file}")
        if self.expect_name:
            words.append(f"expect {self.expect_name}")
        if self.baseline:
            words.append(f"baseline {self.baseline}")
        if self.policy:
            words.append(f"policy {self.policy if isinstance(self.policy, str) else 'inline'}")
        return ", ".join(words)

    def recorded(self) -> dict[str, Any]:
        """The options worth recording with the results (what a report states as 'scanned with')."""
        keep = (
            "ports",
            "login_probe",
            "ntlm_probe",
            "confirm_over_tls",
            "timeout",
            "ca_file",
            "expect_name",
            "expiry_warn",
            "legacy_tls",
            "tls_enumeration",
            "tls_profile",
            "enumerate_every_server",
            "injection_test",
            "fail_on",
            "shard",
        )
        recorded = {name: getattr(self, name) for name in keep}
        if self.shard == "auto":
            recorded["shard"] = str(Shard.parse("auto"))  # which part this pod scanned, for merge and reports
        return recorded


# -- one rule per setting: raw value (a command-line string or a TOML value) -> typed value, ValueError if bad -------


def _whole(value: object, minimum: int) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got {value!r}")
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"must be at least {minimum}, got {value}")
    return value


def positive_int(value: object) -> int:
    return _whole(value, 1)


def day_count(value: object) -> int:
    days = _whole(value, 0)
    if days > 3650:
        raise ValueError(f"at most 3650 days, got {days}")
    return days


def positive_float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"expected a number, got {value!r}") from None
    if not 0 < number < float("inf"):
        raise ValueError(f"must be above 0, got {value!r}")
    return number


def flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def text_list(value: object) -> tuple[str, ...]:
    """A list of strings; a single string and comma-separated entries are accepted too."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
        raise ValueError(f"expected a list of strings, got {value!r}")
    return tuple(part.strip() for item in items for part in item.split(",") if part.strip())


def target_list(value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in items):
        raise ValueError("expected a list of targets (strings)")
    return tuple(items)


def ip_address(value: object) -> str:
    try:
        return str(ipaddress.ip_address(text(value).strip()))
    except ValueError:
        raise ValueError(f"not an IPv4 or IPv6 address: {value!r}") from None


def host_name(value: object) -> str:
    name = text(value).strip()
    if not valid_name(name):
        raise ValueError(f"not a host name: {value!r}")
    return name.rstrip(".").lower()


def severity_or_none(value: object) -> str | None:
    if isinstance(value, str) and value.lower() == "none":
        return None
    if not isinstance(value, str) or value.lower() not in SEVERITIES:
        raise ValueError(f"unknown severity {value!r}; use one of {', '.join(SEVERITIES)} or none")
    return value.lower()


def output_format(value: object) -> str:
    if value not in FORMATS:
        raise ValueError(f"unknown format {value!r}; use one of {', '.join(FORMATS)}")
    return str(value)


def port_list(value: object) -> str:
    if isinstance(value, list) and all(isinstance(p, (int, str)) and not isinstance(p, bool) for p in value):
        value = ",".join(str(p) for p in value)
    elif isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError('expected a list of ports or a string like "143,993"')
    try:
        parse_ports(value)
    except UsageError as exc:
        raise ValueError(str(exc).removeprefix(f"-p {value}: ").removeprefix(f"-p {value!r}: ")) from None
    return value


def discover_choice(value: object) -> str:
    if value not in ("zmap", "masscan", "off"):
        raise ValueError(f"expected zmap, masscan or off, got {value!r}")
    return str(value)


def vantage_pairs(value: object) -> tuple[tuple[str, str], ...]:
    """[[selector, targets], ...]: the command line's --vantage SELECTOR TARGETS, or a config file's list of pairs."""
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(v, str) and v.strip() for v in pair)
        for pair in value
    ):
        raise ValueError('expected pairs of a node selector and targets, e.g. [["site=paris", "192.0.2.0/24"]]')
    return tuple((str(pair[0]), str(pair[1])) for pair in value)


def tls_profile(value: object) -> str:
    if value not in ("modern", "intermediate", "old"):
        raise ValueError(f"expected modern, intermediate or old, got {value!r}")
    return str(value)


def shard(value: object) -> str:
    """K/N, or ``auto`` (an Indexed Job's pod: its environment is checked now, and recorded as the K/N it gives)."""
    if isinstance(value, str) and value.strip() == "auto":
        try:
            Shard.parse("auto")
        except UsageError as exc:
            raise ValueError(str(exc).removeprefix("--shard auto: ")) from None
        return "auto"
    try:
        Shard.parse(text(value))
    except UsageError:
        raise ValueError(f"expected K/N with 1 <= K <= N, e.g. 2/4, or auto, got {value!r}") from None
    return str(value)


def policy(value: object) -> str | Policy:
    if isinstance(value, dict):
        from scanner.report.policy import policy_from_dict

        try:
            return policy_from_dict(value, source="[policy]")
        except UsageError as exc:
            raise ValueError(str(exc)) from None
    if isinstance(value, str) and value:
        return value
    raise ValueError("expected a policy file name or a [policy] table")


@dataclass(frozen=True)
class Rule:
    check: Callable[[Any], Any]
    flag: str  # how the command line spells it (for messages)
    path: bool = False  # a file name: relative to the config file when it comes from there


RULES: dict[str, Rule] = {
    "targets": Rule(target_list, "TARGET"),
    "input_lists": Rule(text_list, "-iL", path=True),
    "excludes": Rule(text_list, "--exclude"),
    "exclude_files": Rule(text_list, "--exclude-file", path=True),
    "domains": Rule(text_list, "--domain"),
    "ports": Rule(port_list, "-p"),
    "yes": Rule(flag, "--yes"),
    "shard": Rule(shard, "--shard"),
    "nameserver": Rule(text, "--nameserver"),
    "ptr": Rule(flag, "--no-ptr"),
    "login_probe": Rule(flag, "--no-login-probe"),
    "ntlm_probe": Rule(flag, "--no-ntlm-probe"),
    "confirm_over_tls": Rule(flag, "--confirm-over-tls"),
    "timeout": Rule(positive_float, "--timeout"),
    "fixed_timeout": Rule(flag, "--fixed-timeout"),
    "ca_file": Rule(text, "--ca-file", path=True),
    "expect_name": Rule(host_name, "--expect-name"),
    "expiry_warn": Rule(day_count, "--expiry-warn"),
    "legacy_tls": Rule(flag, "--no-legacy-tls"),
    "tls_enumeration": Rule(flag, "--no-tls-enumeration"),
    "tls_profile": Rule(tls_profile, "--tls-profile"),
    "enumerate_every_server": Rule(flag, "--enumerate-every-server"),
    "injection_test": Rule(flag, "--no-injection-test"),
    "source_address": Rule(ip_address, "--source-address"),
    "concurrency": Rule(positive_int, "--concurrency"),
    "per_host": Rule(positive_int, "--per-host"),
    "rate": Rule(positive_float, "--rate"),
    "workers": Rule(positive_int, "--workers"),
    "discover": Rule(discover_choice, "--discover"),
    "ray": Rule(text, "--ray"),
    "vantages": Rule(vantage_pairs, "--vantage"),
    "format": Rule(output_format, "--format"),
    "output": Rule(text, "-o", path=True),
    "append": Rule(flag, "--append"),
    "resume": Rule(text, "--resume", path=True),
    "tui": Rule(flag, "--no-tui"),
    "fail_on": Rule(severity_or_none, "--fail-on"),
    "baseline": Rule(text, "--baseline", path=True),
    "fail_on_regression": Rule(flag, "--fail-on-regression"),
    "policy": Rule(policy, "--policy", path=True),
}
CONFIG_KEYS = frozenset(RULES) - {"config"}
assert set(RULES) == {f.name for f in fields(ScanSettings)} - {"config"}


def build_settings(
    given: Mapping[str, Any],
    file_values: Mapping[str, Any] | None = None,
    config_path: str | None = None,
) -> ScanSettings:
    """``given``: what the command line set (only the options the user typed); ``file_values``: a config file's
    keys, paths already made relative to it (scanner.config). The command line wins key by key; targets from the
    file are used only when none were typed. Raises UsageError (one line) for any bad value."""
    values: dict[str, Any] = {}
    for name, rule in RULES.items():
        if name in given and not (name == "targets" and not given[name]):
            values[name] = checked(rule.check, given[name], rule.flag)
        elif file_values and name in file_values:
            values[name] = checked(rule.check, file_values[name], f"config file {config_path}: {name}")
    if values.get("fail_on_regression") and not values.get("baseline"):
        raise UsageError("--fail-on-regression needs --baseline FILE (or baseline = in the config file)")
    if values.get("vantages") and not values.get("ray"):
        raise UsageError("--vantage needs --ray ADDRESS (vantage points are the nodes of a Ray cluster)")
    if values.get("resume") and not values.get("output"):
        values["output"] = values["resume"]  # --resume FILE appends the rest of the scan to FILE
    return ScanSettings(**values, config=config_path)


def checked(check: Callable[[Any], Any], value: Any, where: str) -> Any:
    """``check(value)``, its ValueError turned into the one-line UsageError naming ``where``."""
    try:
        return check(value)
    except ValueError as exc:
        raise UsageError(f"{where}: {exc}") from None
