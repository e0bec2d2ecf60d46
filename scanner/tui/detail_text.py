"""The text of the detail screen, as (section title, lines) pairs. Pure, so what it says is tested directly.

Server words (greeting, error, capabilities, certificate fields, transcript) are shown as visible quotations and
every line goes through scanner.untrusted, so nothing a server sends can pass for one of mailprobe's verdict lines.
"""

from __future__ import annotations

from scanner.model import SEVERITY_RANK, EndpointResult, NtlmInfo, StartTlsInjection
from scanner.row_facts import capability_changes_text, ntlm_facts
from scanner.tally import INJECTION_WORDS, verdict_for_terminal
from scanner.tui.cells import (
    SEVERITY_CELLS,
    certificate_cell,
    format_transcript,
    plaintext_cell,
    severity_cell,
    starttls_cell,
    tls_cell,
)
from scanner.untrusted import for_terminal, for_terminal_quoted
from scanner.verdicts.tls_profile import describe as describe_tls

Section = tuple[str, list[str]]


def _q(value: object) -> str:
    """Server words as a visible quotation."""
    return for_terminal_quoted(value)


def title_of(r: EndpointResult) -> str:
    name = f" ({r.name})" if r.name else ""
    return for_terminal(f"{r.host}{name} {r.address}:{r.port} {r.protocol.upper()} {r.transport}")


def detail_sections(r: EndpointResult, changed: list[str] | None = None) -> list[Section]:
    sections: list[Section] = []
    if changed is not None:
        shown = [f"  {for_terminal(line)}" for line in changed]
        sections.append(("Re-probe: what changed", shown or ["  nothing changed"]))

    summary = [
        f"  state:            {r.state}" + (f" ({_q(r.error)})" if r.error else ""),
        f"  software:         {for_terminal(r.software) or 'unknown'}",
        f"  greeting:         {_q(r.greeting) if r.greeting else '-'}",
        f"  plaintext login:  {plaintext_cell(r).text}",
        f"  STARTTLS:         {starttls_cell(r).text}",
        f"  STARTTLS command injection: {_injection_verdict(r)}",
        f"  certificate:      {certificate_cell(r).text}",
        f"  TLS:              {tls_cell(r).text}" + (f" {r.tls.cipher}" if r.tls and r.tls.cipher else ""),
        f"  worst severity:   {severity_cell(r).text}",
        f"  probe took:       {r.duration_ms} ms",
    ]
    if r.ptr:
        summary.insert(1, f"  reverse DNS:      {for_terminal(r.ptr)}")
    if r.srv_domain:
        summary.insert(1, f"  SRV domain:       {for_terminal(r.srv_domain)}")
    sections.append(("Summary", summary))

    findings: list[str] = []
    for f in sorted(r.findings, key=lambda f: -SEVERITY_RANK[f.severity]):  # worst first, as the table lists them
        findings.append(f"  {SEVERITY_CELLS[f.severity].text}  [{f.id}] {for_terminal(f.title)}")
        findings.append(f"      {for_terminal(f.detail)}")  # one line: a server's line break stays visible
        findings.extend(
            f"      Fix: {for_terminal(line)}" if i == 0 else f"           {for_terminal(line)}"
            for i, line in enumerate(f.remediation.splitlines())
        )
        findings.append("")
    sections.append((f"Findings ({len(r.findings)})", findings or ["  none"]))

    evidence = [f"  verdict: {verdict_for_terminal(r.plaintext_login.verdict)}"]
    evidence.extend(f"  - {for_terminal(line)}" for line in r.plaintext_login.evidence)
    sections.append(("Plaintext login: evidence", evidence))

    if r.starttls_injection is not None:
        sections.append(("STARTTLS command injection", _injection_lines(r.starttls_injection)))

    caps = r.capabilities
    changes = capability_changes_text(caps)
    sections.append(
        (
            "Capabilities",
            [
                "  before TLS: " + (_q(" ".join(caps.before_tls)) if caps.before_tls else "-"),
                "  after TLS:  " + (_q(" ".join(caps.after_tls)) if caps.after_tls else "-"),
                *(["  TLS changed: " + _q(changes)] if changes else []),
            ],
        )
    )
    if r.ntlm is not None:
        sections.append(("NTLM challenge", _ntlm_lines(r.ntlm)))

    sections.append(("TLS and certificate", _tls_lines(r)))
    sections.append(
        ("Transcript (password masked)", [f"  {line}" for line in format_transcript(r.transcript, _q)] or ["  -"])
    )
    return sections


def _ntlm_lines(info: NtlmInfo) -> list[str]:
    """Names and the error are server text, quoted; where it was read, the version and the problems are ours."""
    ours = {"read", "Windows version", "server time", "problem"}
    return [f"  {label + ':':<18}{for_terminal(value) if label in ours else _q(value)}" for label, value in
            ntlm_facts(info)]  # fmt: skip


def _injection_verdict(r: EndpointResult) -> str:
    if r.starttls_injection is None:
        return "-"
    return INJECTION_WORDS.get(r.starttls_injection.verdict, for_terminal(r.starttls_injection.verdict))


def _injection_lines(injection: StartTlsInjection) -> list[str]:
    """Each try: what was appended and how, what came back (server lines as visible quotations)."""
    lines = [f"  verdict: {INJECTION_WORDS.get(injection.verdict, for_terminal(injection.verdict))}"]
    if injection.note:
        lines.append(f"  {for_terminal(injection.note)}")
    for attempt in injection.tries:
        waited = f" (listened {attempt.waited_ms} ms inside TLS)" if attempt.waited_ms else ""
        sent = _q(attempt.sent) if attempt.sent else "-"
        lines.append(f"  {for_terminal(attempt.variant)}: sent {sent}: {for_terminal(attempt.outcome)}{waited}")
        lines.extend(f"      answer: {_q(line)}" for line in attempt.evidence)
        lines.extend(f"      other:  {_q(line)}" for line in attempt.other[:5])
        if attempt.note:
            lines.append(f"      {for_terminal(attempt.note)}")
    return lines


def _tls_lines(r: EndpointResult) -> list[str]:
    if r.tls is None:
        return ["  no TLS"]
    lines = [f"  version: {r.tls.version or '-'}   cipher: {r.tls.cipher or '-'}"]
    if r.tls.legacy_versions_accepted:
        lines.append("  legacy versions accepted: " + ", ".join(r.tls.legacy_versions_accepted))
    lines.extend(f"  not tested: {line}" for line in r.tls.legacy_versions_untested)
    if r.tls.legacy_versions_probed_on is not None:
        lines.append(f"  legacy versions probed on port {r.tls.legacy_versions_probed_on} of this server")
    # certificate facts (a trust error naming the subject) can be in a deviation: server text, so for_terminal
    lines.extend(f"  {for_terminal(line)}" for line in describe_tls(r.tls.configuration, r.tls.mozilla))
    cert = r.tls.certificate
    if cert is None:
        lines.append("  no certificate")
        return lines
    lines += [
        f"  subject:   {_q(cert.subject)}",
        f"  issuer:    {_q(cert.issuer)}",
        f"  names:     {', '.join(_q(name) for name in cert.sans) or '-'}",
        f"  valid:     {cert.not_before} .. {cert.not_after} ({cert.days_left} days left)",
        f"  key:       {for_terminal(cert.key)}, {for_terminal(cert.signature_algorithm)}",
        f"  sha256:    {cert.sha256}",
        f"  trusted:   {'yes' if cert.trusted else 'no'} ({cert.trust_store})"
        + (f": {for_terminal(cert.trust_error)}" if cert.trust_error else ""),
        f"  self-signed: {'yes' if cert.self_signed else 'no'}"
        + ("   Exchange default certificate: yes" if cert.exchange_default else ""),
        "  name match: "
        + {True: "yes", False: "NO", None: "not checked"}[cert.name_match]
        + (f" (checked {for_terminal(', '.join(cert.names_checked))})" if cert.names_checked else ""),
        f"  chain ({cert.chain_length} presented):",
    ]
    lines.extend(f"    {i}. {_q(link)}" for i, link in enumerate(cert.chain))
    return lines
