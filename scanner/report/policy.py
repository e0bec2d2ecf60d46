"""Policy: what must hold after a change (TOML), with per-host exceptions that carry a reason and an expiry date.

    plaintext_login = "refused"        # or "not_accepted" (inconclusive/untested then pass); IMAP and POP3
    submission_auth = "refused"        # the same for SMTP AUTH on the submission ports (587/465)
    require_tls = true                 # every open endpoint ends up in TLS
    certificate_trusted = true
    certificate_name_match = true
    min_tls_version = "TLSv1.2"        # negotiated and accepted legacy versions
    min_certificate_days = 14
    forbidden_protocols = ["pop3"]
    forbidden_ports = [110]
    max_severity = "medium"            # no finding above this
    forbidden_findings = ["starttls-missing"]

    [[exceptions]]
    host = "legacy.example.com"        # host as typed, its name, its address, or a network (192.0.2.0/24)
    port = 110                         # optional: every port when absent
    rule = "forbidden-protocol"        # one rule id, or "*" for all rules
    reason = "old scanners, CHG-1234"
    expires = 2025-09-30

Only open endpoints are judged: a closed or filtered port exposes nothing.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from scanner.errors import UsageError
from scanner.model import SEVERITIES, SEVERITY_RANK, EndpointResult
from scanner.text import plural
from scanner.tomlfile import read_toml
from scanner.untrusted import for_terminal

RULES: dict[str, str] = {
    "plaintext-login": "plaintext login refused",
    "submission-auth": "SMTP AUTH in clear refused",
    "require-tls": "TLS in use",
    "certificate-trusted": "certificate trusted",
    "certificate-name-match": "certificate names match",
    "min-tls-version": "no TLS below the minimum version",
    "min-certificate-days": "certificate valid long enough",
    "forbidden-protocol": "protocol not exposed",
    "forbidden-port": "port not exposed",
    "max-severity": "no finding above the maximum severity",
    "forbidden-finding": "forbidden finding absent",
}
_TLS_ORDER = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
_KEYS = {
    "plaintext_login",
    "submission_auth",
    "require_tls",
    "certificate_trusted",
    "certificate_name_match",
    "min_tls_version",
    "min_certificate_days",
    "forbidden_protocols",
    "forbidden_ports",
    "max_severity",
    "forbidden_findings",
    "exceptions",
}


@dataclass(frozen=True)
class PolicyException:
    host: str
    rule: str
    reason: str
    expires: dt.date
    port: int | None = None

    def matches(self, result: EndpointResult, rule: str) -> bool:
        if self.rule not in ("*", rule):
            return False
        if self.port is not None and self.port != result.port:
            return False
        if self.host in (result.host, result.address, result.name):
            return True
        try:
            return ipaddress.ip_address(result.address) in ipaddress.ip_network(self.host, strict=False)
        except ValueError:
            return False


@dataclass(frozen=True)
class Policy:
    plaintext_login: str | None = None  # "refused" | "not_accepted", for IMAP and POP3
    submission_auth: str | None = None  # the same for SMTP submission
    require_tls: bool = False
    certificate_trusted: bool = False
    certificate_name_match: bool = False
    min_tls_version: str | None = None
    min_certificate_days: int | None = None
    forbidden_protocols: tuple[str, ...] = ()
    forbidden_ports: tuple[int, ...] = ()
    max_severity: str | None = None
    forbidden_findings: tuple[str, ...] = ()
    exceptions: tuple[PolicyException, ...] = ()
    source: str = "policy"


@dataclass(frozen=True)
class Violation:
    rule: str
    address: str
    port: int
    host: str
    protocol: str
    detail: str
    excused_by: PolicyException | None = None  # an exception in force: reported, not failing
    expired: PolicyException | None = None  # an exception that would have matched but has expired

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.address, self.port, self.rule)

    def describe(self) -> str:
        text = f"{self.host}:{self.port} {self.protocol} [{self.rule}] {self.detail}"
        if self.excused_by is not None:
            text += f" (excepted until {self.excused_by.expires}: {self.excused_by.reason})"
        elif self.expired is not None:
            text += f" (exception expired on {self.expired.expires}: {self.expired.reason})"
        return text

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule,
            "host": self.host,
            "address": self.address,
            "port": self.port,
            "protocol": self.protocol,
            "detail": self.detail,
        }
        for name, exc in (("excepted", self.excused_by), ("expired_exception", self.expired)):
            if exc is not None:
                out[name] = {"reason": exc.reason, "expires": exc.expires.isoformat()}
        return out


@dataclass(frozen=True)
class PolicyOutcome:
    violations: tuple[Violation, ...] = ()  # failing ones
    excused: tuple[Violation, ...] = ()  # covered by an exception in force
    checked: int = 0  # open endpoints judged

    @property
    def holds(self) -> bool:
        return not self.violations

    def render(self) -> str:
        lines = [
            f"Policy: {plural(self.checked, 'open endpoint')} checked, {plural(len(self.violations), 'violation')}"
            f", {len(self.excused)} excepted"
        ]
        lines += [f"  FAIL {v.describe()}" for v in self.violations]
        lines += [f"  excepted {v.describe()}" for v in self.excused]
        lines.append("Policy holds." if self.holds else "Policy FAILED.")
        return "\n".join(for_terminal(line) for line in lines) + "\n"  # details quote server text

    def to_dict(self) -> dict[str, Any]:
        return {
            "holds": self.holds,
            "checked": self.checked,
            "violations": [v.to_dict() for v in self.violations],
            "excepted": [v.to_dict() for v in self.excused],
        }


# --- loading ---------------------------------------------------------------------------------------------------


def load_policy(path: str | Path) -> Policy:
    return policy_from_dict(read_toml(path, "policy file"), source=str(Path(path)))


def policy_from_dict(data: dict[str, Any], source: str = "policy") -> Policy:
    def bad(message: str) -> UsageError:
        return UsageError(f"{source}: {message}")

    unknown = set(data) - _KEYS
    if unknown:
        raise bad(f"unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_KEYS))}")
    plaintext = data.get("plaintext_login")
    if plaintext not in (None, "refused", "not_accepted"):
        raise bad(f'plaintext_login must be "refused" or "not_accepted", not {plaintext!r}')
    submission = data.get("submission_auth")
    if submission not in (None, "refused", "not_accepted"):
        raise bad(f'submission_auth must be "refused" or "not_accepted", not {submission!r}')
    min_tls = data.get("min_tls_version")
    if min_tls is not None and min_tls not in _TLS_ORDER:
        raise bad(f"min_tls_version must be one of {', '.join(_TLS_ORDER)}, not {min_tls!r}")
    max_sev = data.get("max_severity")
    if max_sev is not None:
        max_sev = check_severity(max_sev, where=f"{source}: max_severity")
    for flag in ("require_tls", "certificate_trusted", "certificate_name_match"):
        if not isinstance(data.get(flag, False), bool):
            raise bad(f"{flag} must be true or false")
    days = data.get("min_certificate_days")
    if days is not None and (not isinstance(days, int) or isinstance(days, bool) or days < 0):
        raise bad("min_certificate_days must be a whole number of days")
    protocols = _str_list(data.get("forbidden_protocols", []), "forbidden_protocols", bad)
    if set(protocols) - {"imap", "pop3", "smtp"}:
        raise bad('forbidden_protocols may hold "imap", "pop3" and "smtp" only')
    ports = data.get("forbidden_ports", [])
    if not isinstance(ports, list) or not all(isinstance(p, int) and 0 < p < 65536 for p in ports):
        raise bad("forbidden_ports must be a list of port numbers")
    exceptions = data.get("exceptions", [])
    if not isinstance(exceptions, list):
        raise bad("exceptions must be an array of tables ([[exceptions]])")
    return Policy(
        plaintext_login=plaintext,
        submission_auth=submission,
        require_tls=data.get("require_tls", False),
        certificate_trusted=data.get("certificate_trusted", False),
        certificate_name_match=data.get("certificate_name_match", False),
        min_tls_version=min_tls,
        min_certificate_days=days,
        forbidden_protocols=tuple(protocols),
        forbidden_ports=tuple(ports),
        max_severity=max_sev,
        forbidden_findings=tuple(_str_list(data.get("forbidden_findings", []), "forbidden_findings", bad)),
        exceptions=tuple(_exception(e, n, bad) for n, e in enumerate(exceptions, start=1)),
        source=source,
    )


def check_severity(value: object, where: str = "severity") -> str:
    if not isinstance(value, str) or value.lower() not in SEVERITIES:
        raise UsageError(f"{where}: unknown severity {value!r}; use one of {', '.join(SEVERITIES)}")
    return value.lower()


def _str_list(value: object, name: str, bad: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad(f"{name} must be a list of strings")
    return list(value)


def _exception(entry: object, number: int, bad: Any) -> PolicyException:
    where = f"exception {number}"
    if not isinstance(entry, dict):
        raise bad(f"{where} must be a table")
    unknown = set(entry) - {"host", "port", "rule", "reason", "expires"}
    if unknown:
        raise bad(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    host, rule, reason, expires = (entry.get(k) for k in ("host", "rule", "reason", "expires"))
    if not isinstance(host, str) or not host:
        raise bad(f"{where}: host is required")
    if rule != "*" and rule not in RULES:
        raise bad(f'{where}: unknown rule {rule!r}; use "*" or one of {", ".join(RULES)}')
    if not isinstance(reason, str) or not reason.strip():
        raise bad(f"{where}: a reason is required")
    if isinstance(expires, dt.datetime):
        expires = expires.date()
    if not isinstance(expires, dt.date):
        raise bad(f"{where}: expires is required, as a TOML date (expires = 2025-12-31)")
    port = entry.get("port")
    if port is not None and (not isinstance(port, int) or not 0 < port < 65536):
        raise bad(f"{where}: port must be a port number")
    return PolicyException(host=host, rule=rule, reason=reason.strip(), expires=expires, port=port)


# --- evaluation ------------------------------------------------------------------------------------------------


def evaluate_policy(policy: Policy, results: Iterable[EndpointResult], today: dt.date | None = None) -> PolicyOutcome:
    """Judge every open endpoint; an exception applies up to and including its expiry date."""
    today = today or dt.date.today()
    failing: list[Violation] = []
    excused: list[Violation] = []
    checked = 0
    for result in {r.key: r for r in results}.values():
        if result.state != "open":
            continue
        checked += 1
        for rule, detail in _breaches(policy, result):
            matching = [e for e in policy.exceptions if e.matches(result, rule)]
            in_force = [e for e in matching if e.expires >= today]
            v = Violation(rule, result.address, result.port, result.host, result.protocol, detail)
            if in_force:
                excused.append(_with(v, excused_by=max(in_force, key=lambda e: e.expires)))
            elif matching:
                failing.append(_with(v, expired=max(matching, key=lambda e: e.expires)))
            else:
                failing.append(v)
    return PolicyOutcome(tuple(failing), tuple(excused), checked)


def _with(v: Violation, **changes: Any) -> Violation:
    return replace(v, **changes)


def _breaches(policy: Policy, r: EndpointResult) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    verdict = r.plaintext_login.verdict
    # IMAP/POP3 logins and SMTP AUTH are demanded separately: one policy may tighten mailboxes first.
    demand, rule, what = (
        (policy.submission_auth, "submission-auth", "SMTP AUTH in clear")
        if r.protocol == "smtp"
        else (policy.plaintext_login, "plaintext-login", "plaintext login")
    )
    if demand == "refused" and verdict not in ("refused", "not_applicable"):
        out.append((rule, f"{what} {verdict}, policy demands refused"))
    elif demand == "not_accepted" and verdict == "accepted":
        out.append((rule, f"{what} accepted"))
    tls = r.tls if r.tls and r.tls.version else None
    if policy.require_tls and tls is None:
        out.append(("require-tls", f"no TLS session (STARTTLS {r.starttls})"))
    cert = tls.certificate if tls else None
    if policy.certificate_trusted and tls is not None and (cert is None or not cert.trusted):
        why = cert.trust_error if cert and cert.trust_error else "no certificate seen"
        out.append(("certificate-trusted", f"certificate not trusted: {why}"))
    if policy.certificate_name_match and tls is not None and (cert is None or cert.name_match is not True):
        if cert is None:
            why = "certificate name not checked: no certificate seen"
        elif cert.name_match is None:  # not checked is never called a mismatch (docs/findings-tls.md)
            why = "certificate name not checked: no name to check against (scan by name or give the expected name)"
        else:
            why = f"certificate name mismatch: names {', '.join(cert.names_checked)} not in {', '.join(cert.sans)}"
        out.append(("certificate-name-match", why))
    if policy.min_tls_version and tls is not None:
        floor = _TLS_ORDER.index(policy.min_tls_version)
        seen = (tls.version, *tls.legacy_versions_accepted)
        low = ", ".join(dict.fromkeys(v for v in seen if v in _TLS_ORDER and _TLS_ORDER.index(v) < floor))
        if low:
            out.append(("min-tls-version", f"accepts {low}, minimum {policy.min_tls_version}"))
    if policy.min_certificate_days is not None and cert is not None and cert.days_left < policy.min_certificate_days:
        until = f"{cert.not_after:%Y-%m-%d}"
        out.append(("min-certificate-days", f"certificate expires in {cert.days_left} days ({until})"))
    if r.protocol in policy.forbidden_protocols:
        out.append(("forbidden-protocol", f"{r.protocol.upper()} is exposed"))
    if r.port in policy.forbidden_ports:
        out.append(("forbidden-port", f"port {r.port} is open"))
    if policy.max_severity is not None:
        ceiling = SEVERITY_RANK[policy.max_severity]
        above = [f for f in r.findings if SEVERITY_RANK[f.severity] > ceiling]
        if above:
            listed = ", ".join(f"{f.id} ({f.severity})" for f in above)
            out.append(("max-severity", f"findings above {policy.max_severity}: {listed}"))
    for f in r.findings:
        if f.id in policy.forbidden_findings:
            out.append(("forbidden-finding", f"{f.id}: {f.title}"))
    return out
