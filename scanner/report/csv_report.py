"""CSV: one row per (endpoint, finding); an endpoint without findings still gets one row."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from scanner.model import NTLM_NAME_FIELDS, EndpointResult, Finding
from scanner.report.summary import sorted_findings
from scanner.row_facts import ntlm_where
from scanner.untrusted import for_csv

COLUMNS = (
    "host", "address", "name", "port", "protocol", "transport", "state", "error", "software", "starttls",
    "starttls_injection", "plaintext_login", "tls_version", "cipher", "tls_mozilla_profile", "cert_subject",
    "cert_issuer",
    "cert_not_after", "cert_days_left", "cert_trusted", "cert_name_match", "cert_sha256", "caps_added_after_tls",
    "caps_removed_after_tls", "ntlm_read", "ntlm_target_name", "ntlm_netbios_computer", "ntlm_netbios_domain",
    "ntlm_dns_computer", "ntlm_dns_domain", "ntlm_dns_tree", "ntlm_windows_version", "ntlm_error",
    "finding_id", "severity", "title", "detail", "remediation",
)  # fmt: skip


def render_csv(results: Iterable[EndpointResult]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for r in results:
        findings: list[Finding | None] = list(sorted_findings(r)) or [None]
        for f in findings:
            writer.writerow([_cell(v) for v in _row(r, f)])
    return out.getvalue()


def _row(r: EndpointResult, f: Finding | None) -> list[object]:
    tls = r.tls
    cert = tls.certificate if tls else None
    ntlm = r.ntlm
    return [
        r.host, r.address, r.name, r.port, r.protocol, r.transport, r.state, r.error, r.software, r.starttls,
        r.starttls_injection.verdict if r.starttls_injection else None, r.plaintext_login.verdict,
        tls.version if tls else None, tls.cipher if tls else None, tls.mozilla.summary if tls and tls.mozilla else None,
        cert.subject if cert else None, cert.issuer if cert else None, cert.not_after if cert else None,
        cert.days_left if cert else None, cert.trusted if cert else None, cert.name_match if cert else None,
        cert.sha256 if cert else None,
        " ".join(r.capabilities.added_after_tls), " ".join(r.capabilities.removed_after_tls),
        ntlm_where(ntlm) if ntlm else None,
        *(getattr(ntlm, name) if ntlm else None for name in NTLM_NAME_FIELDS),
        ntlm.product_version if ntlm else None, ntlm.error if ntlm else None,
        f.id if f else None, f.severity if f else None, f.title if f else None, f.detail if f else None,
        f.remediation if f else None,
    ]  # fmt: skip


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return for_csv(value)  # servers choose subjects and error texts: no formula, no control character
    return str(value)
