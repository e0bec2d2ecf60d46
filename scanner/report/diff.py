"""Baseline diff: what changed per endpoint between two scans (fixed, new, verdict and certificate changes).

Endpoints are matched by ``EndpointResult.key`` (address, port); findings by id, because titles and details may
carry values that move between scans (days left, random dummy user names).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from scanner.model import SEVERITY_RANK, EndpointResult, Finding
from scanner.tally import VERDICT_RANK
from scanner.text import plural
from scanner.untrusted import for_json, for_terminal

Direction = Literal["better", "worse", "neutral"]
Status = Literal["appeared", "vanished", "changed", "unchanged"]

# Higher is better; equal ranks are a neutral change (e.g. refused -> not_applicable). Verdicts: scanner.tally's.
_STARTTLS_RANK = {"failed": 0, "not_offered": 0, "ok": 1, "not_applicable": 1}
_TLS_RANK = {"SSLv3": 0, "TLSv1": 1, "TLSv1.1": 2, "TLSv1.2": 3, "TLSv1.3": 4}


@dataclass(frozen=True)
class Change:
    """One attribute of an endpoint that differs, e.g. plaintext_login: accepted -> refused."""

    field: str
    before: str | None
    after: str | None
    direction: Direction

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "before": self.before, "after": self.after, "direction": self.direction}


@dataclass(frozen=True)
class EndpointDiff:
    address: str
    port: int
    host: str
    name: str | None
    protocol: str
    transport: str
    status: Status
    fixed: tuple[Finding, ...] = ()
    new: tuple[Finding, ...] = ()
    changes: tuple[Change, ...] = ()

    @property
    def label(self) -> str:
        shown = self.host if self.host in (self.address, self.name) else f"{self.host} ({self.address})"
        return f"{shown}:{self.port} {self.protocol}/{self.transport}"

    def regressions(self, threshold: str | None = "high") -> list[str]:
        """What got worse here, one readable line each: new findings at/above threshold (none: no finding counts)
        and worse changes."""
        floor = SEVERITY_RANK[threshold] if threshold else len(SEVERITY_RANK)
        worse = [
            f"{self.label}: new finding [{f.severity}] {f.id}: {f.title}"
            for f in self.new
            if SEVERITY_RANK[f.severity] >= floor
        ]
        worse += [f"{self.label}: {c.field} {c.before} -> {c.after}" for c in self.changes if c.direction == "worse"]
        return worse

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "port": self.port,
            "host": self.host,
            "name": self.name,
            "protocol": self.protocol,
            "transport": self.transport,
            "status": self.status,
            "fixed": [_finding_ref(f) for f in self.fixed],
            "new": [_finding_ref(f) for f in self.new],
            "changes": [c.to_dict() for c in self.changes],
        }


@dataclass(frozen=True)
class ScanDiff:
    endpoints: tuple[EndpointDiff, ...]  # sorted by (address, port)
    before_count: int
    after_count: int

    def count(self, status: Status) -> int:
        return sum(1 for e in self.endpoints if e.status == status)

    @property
    def fixed_count(self) -> int:
        return sum(len(e.fixed) for e in self.endpoints)

    @property
    def new_count(self) -> int:
        return sum(len(e.new) for e in self.endpoints)

    def regressions(self, threshold: str | None = "high") -> list[str]:
        return [line for e in self.endpoints for line in e.regressions(threshold)]

    def improvements(self) -> list[str]:
        lines = [f"{e.label}: fixed [{f.severity}] {f.id}: {f.title}" for e in self.endpoints for f in e.fixed]
        lines += [
            f"{e.label}: {c.field} {c.before} -> {c.after}"
            for e in self.endpoints
            for c in e.changes
            if c.direction == "better"
        ]
        return lines

    def to_dict(self, threshold: str | None = "high") -> dict[str, Any]:
        return {
            "summary": {
                "before": self.before_count,
                "after": self.after_count,
                "changed": self.count("changed"),
                "unchanged": self.count("unchanged"),
                "appeared": self.count("appeared"),
                "vanished": self.count("vanished"),
                "findings_fixed": self.fixed_count,
                "findings_new": self.new_count,
            },
            "regressions": self.regressions(threshold),
            "endpoints": [e.to_dict() for e in self.endpoints if e.status != "unchanged"],
        }


def diff_results(before: Iterable[EndpointResult], after: Iterable[EndpointResult]) -> ScanDiff:
    # A later line for the same endpoint wins (a resumed or re-probed scan appends).
    old = {r.key: r for r in before}
    cur = {r.key: r for r in after}
    out: list[EndpointDiff] = []
    for key in sorted(old.keys() | cur.keys(), key=lambda k: (_address_sort(k[0]), k[1])):
        a, b = old.get(key), cur.get(key)
        if a is None and b is not None:
            out.append(_endpoint_diff(b, "appeared", new=b.findings))
        elif b is None and a is not None:
            out.append(_endpoint_diff(a, "vanished"))
        elif a is not None and b is not None:
            fixed, new = _finding_delta(a.findings, b.findings)
            changes = _changes(a, b)
            status: Status = "changed" if fixed or new or changes else "unchanged"
            out.append(_endpoint_diff(b, status, fixed=fixed, new=new, changes=changes))
    return ScanDiff(tuple(out), before_count=len(old), after_count=len(cur))


def _endpoint_diff(
    r: EndpointResult,
    status: Status,
    *,
    fixed: Iterable[Finding] = (),
    new: Iterable[Finding] = (),
    changes: Iterable[Change] = (),
) -> EndpointDiff:
    return EndpointDiff(
        r.address, r.port, r.host, r.name, r.protocol, r.transport, status, tuple(fixed), tuple(new), tuple(changes)
    )


def _finding_delta(before: tuple[Finding, ...], after: tuple[Finding, ...]) -> tuple[list[Finding], list[Finding]]:
    old_ids = {f.id for f in before}
    new_ids = {f.id for f in after}
    fixed = _unique(f for f in before if f.id not in new_ids)
    new = _unique(f for f in after if f.id not in old_ids)
    return fixed, new


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    seen: set[str] = set()
    out = []
    for f in findings:
        if f.id not in seen:
            seen.add(f.id)
            out.append(f)
    return out


def _ranked(field: str, before: str | None, after: str | None, rank: dict[str, int]) -> Change | None:
    if before == after:
        return None
    rb, ra = rank.get(before or "", -1), rank.get(after or "", -1)
    direction: Direction = "neutral" if rb == ra or -1 in (rb, ra) else ("better" if ra > rb else "worse")
    return Change(field, before, after, direction)


def _changes(a: EndpointResult, b: EndpointResult) -> list[Change]:
    changes: list[Change | None] = []
    if a.state != b.state:
        changes.append(Change("state", a.state, b.state, "neutral"))
    changes.append(_ranked("plaintext_login", a.plaintext_login.verdict, b.plaintext_login.verdict, VERDICT_RANK))
    changes.append(_ranked("starttls", a.starttls, b.starttls, _STARTTLS_RANK))
    ta, tb = a.tls, b.tls
    changes.append(_ranked("tls_version", ta.version if ta else None, tb.version if tb else None, _TLS_RANK))
    legacy_a = set(ta.legacy_versions_accepted) if ta else set()
    legacy_b = set(tb.legacy_versions_accepted) if tb else set()
    if legacy_a != legacy_b:
        direction: Direction = "worse" if legacy_b - legacy_a else "better"
        changes.append(Change("legacy_tls_accepted", _join(legacy_a), _join(legacy_b), direction))
    ca, cb = (ta.certificate if ta else None), (tb.certificate if tb else None)
    if (ca.sha256 if ca else None) != (cb.sha256 if cb else None):
        if ca is not None and cb is not None and ca.trusted != cb.trusted:
            direction = "better" if cb.trusted else "worse"
        else:
            direction = "neutral"
        changes.append(Change("certificate", _cert_label(ca), _cert_label(cb), direction))
    if a.software != b.software:
        changes.append(Change("software", a.software, b.software, "neutral"))
    return [c for c in changes if c is not None]


def _join(versions: set[str]) -> str | None:
    return ", ".join(sorted(versions, key=lambda v: _TLS_RANK.get(v, -1))) or None


def _cert_label(cert: Any) -> str | None:
    if cert is None:
        return None
    trust = "trusted" if cert.trusted else "untrusted"
    return f"{cert.subject} (sha256 {cert.sha256[:16]}, {trust}, until {cert.not_after:%Y-%m-%d})"


def _finding_ref(f: Finding) -> dict[str, str]:
    return {"id": f.id, "severity": f.severity, "title": f.title}


def _address_sort(address: str) -> tuple[int, str]:
    import ipaddress

    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return (2, address)
    return (ip.version, f"{int(ip):040d}")


# --- rendering -------------------------------------------------------------------------------------------------


def render_diff_table(diff: ScanDiff, threshold: str | None = "high") -> str:
    t = for_terminal  # labels, titles, certificate names: server text, escaped piece by piece (not the layout)
    lines: list[str] = []
    for e in diff.endpoints:
        if e.status == "unchanged":
            continue
        lines.append(f"{t(e.label)}  [{e.status}]")
        if e.status == "vanished":
            lines.append("  not in this scan")
        for c in e.changes:
            mark = {"better": "+", "worse": "!", "neutral": "~"}[c.direction]
            lines.append(f"  {mark} {c.field}: {t(c.before) or '-'} -> {t(c.after) or '-'}  ({c.direction})")
        for f in e.fixed:
            lines.append(f"  + fixed  [{f.severity}] {t(f.id)}: {t(f.title)}")
        for f in e.new:
            lines.append(f"  ! new    [{f.severity}] {t(f.id)}: {t(f.title)}")
    if not lines:
        lines.append("No changes against the baseline.")
    regressions = diff.regressions(threshold)
    lines.append(
        f"Baseline {plural(diff.before_count, 'endpoint')}, now {diff.after_count}: {diff.count('changed')} changed, "
        f"{diff.count('unchanged')} unchanged, {diff.count('appeared')} appeared, {diff.count('vanished')} vanished; "
        f"{plural(diff.fixed_count, 'finding')} fixed, {diff.new_count} new; {plural(len(regressions), 'regression')}"
    )
    for line in regressions:
        lines.append(f"REGRESSION {t(line)}")
    return "\n".join(lines) + "\n"


def render_diff_json(diff: ScanDiff, threshold: str | None = "high") -> str:
    return for_json(json.dumps(diff.to_dict(threshold), indent=2, ensure_ascii=False)) + "\n"
