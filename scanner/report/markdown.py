"""Markdown report: summary, a table per host, each finding with its remediation, certificate details."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from scanner.model import EndpointResult, ScanInfo
from scanner.output import tls_words
from scanner.report.summary import by_host, describe_scans, sorted_findings, summarise
from scanner.row_facts import capability_changes_text, ntlm_facts
from scanner.tally import STARTTLS_WORDS, STATE_WORDS, injection_text, verdict_label
from scanner.untrusted import for_markdown
from scanner.verdicts.tls_profile import describe as describe_tls


def _md(value: object) -> str:
    """One table cell or inline text: no HTML, markup, pipe or line break from server text (scanner.untrusted)."""
    return "-" if value is None or value == "" else for_markdown(value)


def render_markdown(results: Iterable[EndpointResult], generated: str, scans: Sequence[ScanInfo] = ()) -> str:
    rows = list(results)
    s = summarise(rows)
    out = [
        "# mailprobe report",
        "",
        f"Generated {generated}.",
        "",
        *(f"- {_md(line)}" for line in describe_scans(scans)),
        *([""] if scans else []),
        "## Summary",
        "",
        "| | |",
        "|---|---|",
        f"| Hosts | {s.hosts} |",
        f"| Endpoints | {s.endpoints} |",
        f"| States | {_md(', '.join(f'{_state(k)}: {v}' for k, v in s.states.items()))} |",
        f"| Plaintext login (answering endpoints) | "
        f"{_md(', '.join(f'{verdict_label(k).long}: {v}' for k, v in s.verdicts.items()))} |",
        f"| Findings | {s.findings} ({', '.join(f'{k}: {v}' for k, v in s.severities.items())}) |",
    ]
    for host, endpoints in by_host(rows).items():
        out += ["", f"## {_md(host)}", ""]
        out += ["| Endpoint | Service | State | Plaintext login | STARTTLS | TLS | Worst | Findings |"]
        out += ["|---|---|---|---|---|---|---|---|"]
        for r in endpoints:
            tls = tls_words(r) if r.tls and r.tls.version else None  # version (Mozilla profile met)
            out.append(
                f"| {_md(r.address)}:{r.port} | {r.protocol}/{r.transport} | {_md(_state(r.state))} "
                f"| {_md(verdict_label(r.plaintext_login.verdict).long)} | {_md(_starttls(r))} | {_md(tls)} "
                f"| {r.worst_severity or 'none'} | {len(r.findings)} |"
            )
        for r in endpoints:
            details = _endpoint_details(r)
            if details:
                out += ["", f"### {_md(r.address)}:{r.port} {r.protocol}/{r.transport}", "", *details]
    return "\n".join(out) + "\n"


def _state(state: str) -> str:
    return STATE_WORDS.get(state, state)


def _starttls(r: EndpointResult) -> str:
    return STARTTLS_WORDS.get(r.starttls, r.starttls)


def _endpoint_details(r: EndpointResult) -> list[str]:
    lines: list[str] = []
    if r.error:
        lines.append(f"Error: {_md(r.error)}")
    for f in sorted_findings(r):
        lines += [
            f"- **{f.severity.upper()}** `{f.id}`: {_md(f.title)}",
            f"  - {_md(f.detail)}",
            f"  - Remediation: {_md(f.remediation)}",
        ]
    changes = capability_changes_text(r.capabilities)
    if changes:
        lines += ["", f"Capabilities changed by TLS: {_md(changes)}"]
    if (injection := injection_text(r)) is not None:
        lines += ["", f"STARTTLS command injection: {_md(injection)}"]
    if r.ntlm is not None:
        lines += ["", "NTLM challenge: " + "; ".join(f"{k} {_md(v)}" for k, v in ntlm_facts(r.ntlm))]
    cert = r.tls.certificate if r.tls else None
    if cert is not None:
        trust = "trusted" if cert.trusted else f"not trusted ({_md(cert.trust_error or 'unknown')})"
        match = {True: "yes", False: "no", None: "not checked"}[cert.name_match]
        lines += [
            "",
            f"Certificate: {_md(cert.subject)}, issued by {_md(cert.issuer)}; names {_md(', '.join(cert.sans))}; "
            f"valid until {_md(cert.not_after)} ({cert.days_left} days); {_md(cert.key)}; {trust}; "
            f"name match {match}; SHA-256 {_md(cert.sha256)}",
        ]
    if r.tls is not None and (r.tls.configuration is not None or r.tls.mozilla is not None):
        lines += ["", "TLS configuration:", ""]
        lines += [f"- {_md(line.strip())}" for line in describe_tls(r.tls.configuration, r.tls.mozilla)]
    return lines
