"""HTML report for a change ticket: one self-contained file (inline CSS, no script, no external resource),
readable on screen and printed. Every server-supplied string goes through scanner.untrusted: escaped, controls
visibly escaped and isolated in <bdi>, since servers choose their greetings, certificate subjects and error texts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from scanner import __version__
from scanner.model import SEVERITY_RANK, CertificateInfo, EndpointResult, Finding, ScanInfo
from scanner.report.diff import ScanDiff
from scanner.report.summary import Summary, by_host, describe_scans, sorted_findings, summarise
from scanner.row_facts import capability_changes_text, ntlm_facts
from scanner.tally import STARTTLS_WORDS, STATE_WORDS, VERDICTS, injection_text
from scanner.text import plural
from scanner.untrusted import for_html, for_html_attribute
from scanner.verdicts.tls_profile import describe as describe_tls

_CSS = """
:root { --critical:#8b0000; --high:#c0392b; --medium:#b9770e; --low:#2e6da4; --info:#5d6d7e; --ok:#1e7b34; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:#1b1b1b; margin: 2em auto;
       max-width: 1100px; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { border-bottom: 2px solid #333; padding-bottom: .2em; }
h3 { font-size: 1.05em; margin: 1.2em 0 .4em; }
.meta { color:#555; }
.verdict { border-left: 6px solid var(--ok); background:#f3f8f4; padding: .4em 1em; font-size: 1.1em; }
.verdict.bad { border-color: var(--critical); background:#fbeeee; } .verdict.warn { border-color: var(--medium);
  background:#fdf6e9; }
ul.worst li { margin: .3em 0; }
table { border-collapse: collapse; width: 100%; margin: .5em 0 1em; }
th, td { border: 1px solid #bbb; padding: .3em .5em; text-align: left; vertical-align: top; }
th { background: #eee; }
.sev { display:inline-block; min-width: 5.5em; text-align:center; color:#fff; border-radius: 3px; padding: 0 .4em;
       font-weight: 600; font-size: .85em; }
.sev-critical { background: var(--critical); } .sev-high { background: var(--high); }
.sev-medium { background: var(--medium); } .sev-low { background: var(--low); } .sev-info { background: var(--info); }
.sev-none { background: var(--ok); }
.verdict-accepted { color: var(--critical); font-weight: 700; } .verdict-refused { color: var(--ok); font-weight: 700; }
.endpoint { border: 1px solid #ccc; border-radius: 4px; padding: .2em 1em .8em; margin: 1em 0; }
.finding { margin: .6em 0; padding-left: .6em; border-left: 4px solid #ccc; }
.finding .remediation { background: #f4f6f8; padding: .3em .5em; }
dl.cert { display: grid; grid-template-columns: 11em 1fr; gap: .1em 1em; margin: .3em 0; }
dl.cert dt { font-weight: 600; } dl.cert dd { margin: 0; overflow-wrap: anywhere; }
code { overflow-wrap: anywhere; }
@media print {
  body { margin: 0; max-width: none; font-size: 10.5pt; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  h2 { break-after: avoid; } .endpoint, .finding, tr { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def render_html(
    results: Iterable[EndpointResult],
    generated: str,
    title: str = "mailprobe report",
    scans: Sequence[ScanInfo] = (),
    diff: ScanDiff | None = None,
) -> str:
    """Summary first (in words a manager reads, then counts, then what changed against a baseline when ``diff`` is
    given), then hosts worst first, each endpoint with its findings, fixes and certificate."""
    rows = list(results)
    summary = summarise(rows)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_a(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">Generated {_e(generated)} by mailprobe {_e(__version__)}.</p>',
        _verdict(rows, summary),
        _summary(summary),
        _worst(rows),
        _changes(diff) if diff is not None else "",
        _scans(scans),
    ]
    for host, endpoints in sorted(by_host(rows).items(), key=lambda item: _host_order(*item)):
        parts.append(_host(host, endpoints))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _e(value: object) -> str:
    """Element content."""
    return for_html(value)


def _a(value: object) -> str:
    """An attribute value or the <title> (where <bdi> would not be markup)."""
    return for_html_attribute(value)


def _sev(severity: str | None) -> str:
    if severity is None:
        return '<span class="sev sev-none">none</span>'
    return f'<span class="sev sev-{_a(severity)}">{_e(severity)}</span>'


# Words for people instead of the JSON enum values: scanner.tally's, as every view uses.
VERDICT_WORDS = {verdict: label.long for verdict, label in VERDICTS.items()}


def _host_order(host: str, endpoints: list[EndpointResult]) -> tuple[int, str]:
    worst = max((SEVERITY_RANK[r.worst_severity] for r in endpoints if r.worst_severity), default=-1)
    return (-worst, host)


def _verdict(rows: list[EndpointResult], s: Summary) -> str:
    """The one paragraph a manager reads: is a password taken in clear anywhere, how bad is the rest."""
    accepted = [r for r in rows if r.plaintext_login.verdict == "accepted"]
    unclear = [r for r in rows if r.plaintext_login.verdict == "inconclusive"]
    if accepted:
        where = ", ".join(f"{r.address}:{r.port}" for r in accepted[:6]) + (" ..." if len(accepted) > 6 else "")
        lead = (
            f"<b>Passwords are accepted in clear on {plural(len(accepted), 'endpoint')}</b> ({_e(where)}): "
            "anyone on the network path can read them. Fix these first."
        )
        css = "bad"
    elif s.severities["critical"] or s.severities["high"]:
        lead = "No endpoint accepts a password in clear, but there are serious findings below."
        css = "warn"
    elif unclear:
        lead = (
            f"No endpoint was seen accepting a password in clear; {plural(len(unclear), 'endpoint')} gave "
            "no clear answer (see the evidence below)."
        )
        css = "warn"
    else:
        lead = "No endpoint accepts a password in clear and there is no serious finding."
        css = "good"
    serious = s.severities["critical"] + s.severities["high"]
    counts = (
        f"{plural(s.endpoints, 'endpoint')} on {plural(s.hosts, 'host')}; "
        f"{plural(serious, 'serious finding')} (critical or high), {plural(s.findings, 'finding')} in all."
    )
    return f'<section id="verdict" class="verdict {css}"><p>{lead}</p><p>{counts}</p></section>'


def _worst(rows: list[EndpointResult]) -> str:
    """The worst findings across the scan, each with how many endpoints have it and its fix."""
    groups: dict[str, list[tuple[EndpointResult, Finding]]] = {}
    for r in rows:
        for f in r.findings:
            groups.setdefault(f.id, []).append((r, f))
    if not groups:
        return ""
    ranked = sorted(groups.values(), key=lambda g: (-SEVERITY_RANK[g[0][1].severity], -len(g), g[0][1].id))[:8]
    items = "".join(
        f"<li>{_sev(g[0][1].severity)} <b>{_e(g[0][1].title)}</b> on {plural(len(g), 'endpoint')}: "
        f"{_e(g[0][1].remediation)}</li>"
        for g in ranked
    )
    return f'<section id="worst"><h2>Worst findings and what to do</h2><ul class="worst">{items}</ul></section>'


def _changes(diff: ScanDiff) -> str:
    fixed, new = diff.improvements(), diff.regressions("info")
    lines = [
        f"<p>Against the baseline: {plural(len(fixed), 'improvement')}, {plural(len(new), 'regression')}; "
        f"{plural(diff.count('appeared'), 'endpoint')} appeared, {diff.count('vanished')} vanished.</p>"
    ]
    if new:
        lines.append("<p><b>Worse than before:</b></p><ul>" + "".join(f"<li>{_e(x)}</li>" for x in new[:20]) + "</ul>")
    if fixed:
        lines.append(
            "<p><b>Better than before:</b></p><ul>" + "".join(f"<li>{_e(x)}</li>" for x in fixed[:20]) + "</ul>"
        )
    return '<section id="changes"><h2>Changes since the baseline</h2>' + "".join(lines) + "</section>"


def _scans(scans: Sequence[ScanInfo]) -> str:
    if not scans:
        return '<p class="meta">Scan metadata: not recorded (results written before mailprobe recorded scans).</p>'
    items = "".join(f"<li>{_e(line)}</li>" for line in describe_scans(scans))
    return f'<section id="scans"><h2>Scans</h2><ul class="meta">{items}</ul></section>'


def _summary(s: Summary) -> str:
    def listing(counts: dict[str, int], words: dict[str, str]) -> str:
        return ", ".join(f"{_e(words.get(k, k))}: {v}" for k, v in counts.items()) or "-"

    severity_cells = "".join(f"<td>{_sev(k)} {v}</td>" for k, v in s.severities.items())
    return (
        '<section id="summary"><h2>Summary</h2><table class="summary">'
        f'<tr><th>Hosts</th><td id="count-hosts">{s.hosts}</td></tr>'
        f'<tr><th>Endpoints</th><td id="count-endpoints">{s.endpoints}</td></tr>'
        f"<tr><th>States</th><td>{listing(s.states, STATE_WORDS)}</td></tr>"
        f"<tr><th>Plaintext login (answering endpoints)</th><td>{listing(s.verdicts, VERDICT_WORDS)}</td></tr>"
        f'<tr><th>Findings</th><td id="count-findings">{s.findings}</td></tr>'
        "</table>"
        f'<table class="severities"><tr>{severity_cells}</tr></table></section>'
    )


def _host(host: str, endpoints: list[EndpointResult]) -> str:
    rows = []
    endpoints = sorted(
        endpoints, key=lambda r: (-(SEVERITY_RANK[r.worst_severity] if r.worst_severity else -1), r.address, r.port)
    )
    for r in endpoints:
        tls = r.tls
        cert = tls.certificate if tls else None
        cert_cell = "-" if cert is None else f"{_e(cert.subject)} ({'trusted' if cert.trusted else 'untrusted'})"
        verdict = r.plaintext_login.verdict
        rows.append(
            f"<tr><td>{_e(r.address)}:{r.port}</td><td>{_e(r.protocol)}/{_e(r.transport)}</td>"
            f"<td>{_e(STATE_WORDS.get(r.state, r.state))}</td>"
            f'<td class="verdict-{_a(verdict)}">{_e(VERDICT_WORDS.get(verdict, verdict))}</td>'
            f"<td>{_e(STARTTLS_WORDS.get(r.starttls, r.starttls))}</td>"
            f"<td>{_e(tls.version if tls and tls.version else '-')}</td><td>{cert_cell}</td>"
            f"<td>{_sev(r.worst_severity)} {len(r.findings)}</td></tr>"
        )
    table = (
        "<table><tr><th>Endpoint</th><th>Service</th><th>State</th><th>Plaintext login</th><th>STARTTLS</th>"
        "<th>TLS</th><th>Certificate</th><th>Findings</th></tr>" + "".join(rows) + "</table>"
    )
    details = "".join(_endpoint(r) for r in endpoints)
    return f'<section class="host" data-host="{_a(host)}"><h2>{_e(host)}</h2>{table}{details}</section>'


def _endpoint(r: EndpointResult) -> str:
    name = f" ({_e(r.name)})" if r.name and r.name != r.host else ""
    parts = [
        f'<div class="endpoint" data-endpoint="{_a(r.address)}:{r.port}">',
        f"<h3>{_e(r.address)}:{r.port} {_e(r.protocol.upper())} {_e(r.transport)}{name}</h3>",
    ]
    facts = [
        ("State", STATE_WORDS.get(r.state, r.state)),
        ("Software", r.software),
        ("Greeting", r.greeting),
        ("Error", r.error),
    ]
    if r.srv_domain:
        facts.append(("SRV domain", r.srv_domain))
    if r.ptr:
        facts.append(("Reverse DNS", r.ptr))
    facts.append(("Capabilities changed by TLS", capability_changes_text(r.capabilities)))
    facts.append(("STARTTLS command injection", injection_text(r)))
    parts.append("<p>" + " &middot; ".join(f"<b>{k}:</b> {_e(v)}" for k, v in facts if v) + "</p>")
    if r.ntlm is not None:
        items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in ntlm_facts(r.ntlm))
        parts.append(f'<h3>NTLM challenge</h3><dl class="ntlm">{items}</dl>')
    if r.plaintext_login.evidence:
        evidence = "".join(f"<li>{_e(line)}</li>" for line in r.plaintext_login.evidence)
        verdict = VERDICT_WORDS.get(r.plaintext_login.verdict, r.plaintext_login.verdict)
        parts.append(f"<p><b>Plaintext login: {_e(verdict)}</b></p><ul>{evidence}</ul>")
    findings = sorted_findings(r)
    if findings:
        parts.append("".join(_finding(f) for f in findings))
    elif r.state == "open":
        parts.append('<p class="no-findings">No findings.</p>')
    if r.tls and r.tls.certificate:
        parts.append(_certificate(r.tls.certificate, r))
    parts.append("</div>")
    return "".join(parts)


def _finding(f: Finding) -> str:
    return (
        f'<div class="finding" data-finding="{_a(f.id)}">{_sev(f.severity)} <b class="title">{_e(f.title)}</b> '
        f'<code>{_e(f.id)}</code><p class="detail">{_e(f.detail)}</p>'
        f'<p class="remediation"><b>What to do:</b> {_e(f.remediation)}</p></div>'
    )


def _certificate(c: CertificateInfo, r: EndpointResult) -> str:
    tls = r.tls
    trust = "trusted" if c.trusted else f"not trusted: {c.trust_error or 'unknown reason'}"
    match = {True: "yes", False: "no", None: "not checked"}[c.name_match]
    rows = [
        ("Subject", c.subject),
        ("Issuer", c.issuer),
        ("Names (SAN)", ", ".join(c.sans) or "-"),
        ("Valid", f"{c.not_before} to {c.not_after} ({c.days_left} days left)"),
        ("Key", c.key),
        ("Signature", c.signature_algorithm),
        ("Trust", f"{trust} ({c.trust_store})"),
        ("Name match", f"{match}" + (f" (checked {', '.join(c.names_checked)})" if c.names_checked else "")),
        ("Self-signed", "yes" if c.self_signed else "no"),
        ("SHA-256", c.sha256),
        ("Chain", " | ".join(c.chain) if c.chain else f"{c.chain_length} certificate(s)"),
    ]
    if c.exchange_default:
        rows.append(("Exchange default", "yes: the self-signed certificate Exchange installs"))
    if tls is not None:
        rows.append(("TLS", f"{tls.version or '-'} {tls.cipher or ''}".strip()))
        if tls.legacy_versions_accepted:
            rows.append(("Legacy TLS accepted", ", ".join(tls.legacy_versions_accepted)))
        if tls.mozilla is not None:
            rows.append((f"Mozilla TLS profile ({tls.mozilla.guidelines})", tls.mozilla.summary))
        if tls.configuration is not None or tls.mozilla is not None:
            rows.append(("TLS configuration", " | ".join(describe_tls(tls.configuration, tls.mozilla))))
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    return f'<h3>Certificate</h3><dl class="cert">{items}</dl>'
