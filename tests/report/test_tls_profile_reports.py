"""The Mozilla profile word and the enumerated configuration in every output: table, CSV, Markdown, HTML, the
monitoring plugin line and the TUI's cell and detail view."""

from __future__ import annotations

import datetime as dt

from scanner.model import CertificateInfo, EndpointResult, TlsConfiguration, TlsInfo, VersionSuites
from scanner.output import table_row
from scanner.report.csv_report import render_csv
from scanner.report.html import render_html
from scanner.report.markdown import render_markdown
from scanner.report.monitoring import Thresholds, judge, render_plugin
from scanner.tui.cells import tls_cell
from scanner.tui.detail_text import _tls_lines
from scanner.verdicts.tls_profile import judge as judge_profiles


def _row(days: int = 365) -> EndpointResult:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert = CertificateInfo(
        subject="CN=mail.example.test", issuer="CN=CA", sans=("DNS:mail.example.test",), not_before=start,
        not_after=start + dt.timedelta(days=days), days_left=days - 1, sha256="ab" * 32, key="RSA 2048",
        signature_algorithm="sha256WithRSAEncryption", chain_length=2, trusted=True, trust_store="--ca-file",
        trust_error=None, self_signed=False, exchange_default=False, name_match=True,
        names_checked=("mail.example.test",), key_type="RSA", key_bits=2048,
    )  # fmt: skip
    config = TlsConfiguration(
        versions=("TLSv1.2", "TLSv1.3"),
        suites=(
            VersionSuites("TLSv1.3", ("TLS_AES_128_GCM_SHA256",)),
            VersionSuites("TLSv1.2", ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA"), True),
        ),
        groups=("x25519",),
        forward_secrecy="some",
        aead="some",
        compression=False,
        secure_renegotiation=True,
        extended_master_secret=True,
        fallback_scsv=True,
        handshakes=9,
    )
    tls = TlsInfo("TLSv1.3", "TLS_AES_128_GCM_SHA256", cert, configuration=config, mozilla=judge_profiles(config, cert))
    return EndpointResult("mail.example.test", "192.0.2.7", None, 993, "imap", "implicit", "open", tls=tls)


def test_every_output_names_the_profile_met() -> None:
    row = _row()
    assert row.tls is not None and row.tls.mozilla is not None
    assert row.tls.mozilla.summary == "old"  # TLS_RSA_WITH_AES_128_CBC_SHA is outside intermediate, inside old
    assert "TLSv1.3 (old)" in table_row(row)
    csv = render_csv([row]).splitlines()
    header, first = csv[0].split(","), csv[1].split(",")
    assert first[header.index("tls_mozilla_profile")] == "old"
    markdown = render_markdown([row], "2026-12-06")
    assert "| TLSv1.3 (old) |" in markdown
    assert "- intermediate: not compliant" in markdown and r"TLS\_RSA\_WITH\_AES\_128\_CBC\_SHA" in markdown
    html = render_html([row], "2026-12-06")
    assert "<dt><bdi>Mozilla TLS profile (5.7)</bdi></dt><dd><bdi>old</bdi></dd>" in html
    plugin = render_plugin(judge([row], Thresholds()))
    assert "TLS meets Mozilla old" in plugin
    assert tls_cell(row).text == "TLSv1.3 (old)"
    detail = "\n".join(_tls_lines(row))
    assert "TLSv1.2 suites (server's order)" in detail and "Mozilla guidelines 5.7: old" in detail


def test_heartbleed_and_ccs_injection_read_back_and_show_in_the_reports() -> None:
    import dataclasses

    from scanner.model import VulnerabilityCheck

    row = _row()
    assert row.tls is not None and row.tls.configuration is not None
    config = dataclasses.replace(
        row.tls.configuration,
        heartbleed=VulnerabilityCheck("vulnerable", "answered with 64 bytes", "TLSv1.2"),
        ccs_injection=VulnerabilityCheck("inconclusive", "no answer within 5 s", "TLSv1.2"),
    )
    row = dataclasses.replace(row, tls=dataclasses.replace(row.tls, configuration=config))
    back = EndpointResult.from_dict(row.to_dict())
    assert back.tls is not None and back.tls.configuration == config
    old = row.to_dict()  # a file written before these checks: no such keys
    for key in ("heartbleed", "ccs_injection"):
        del old["tls"]["configuration"][key]
    old_config = EndpointResult.from_dict(old).tls.configuration  # type: ignore[union-attr]
    assert old_config is not None and old_config.heartbleed == VulnerabilityCheck() == old_config.ccs_injection
    assert old_config.heartbleed.verdict == "not_tested"
    markdown = render_markdown([row], "2026-12-06")
    assert "Heartbleed: vulnerable (answered with 64 bytes)" in markdown
    assert "CCS injection: inconclusive (no answer within 5 s)" in markdown
    assert "Heartbleed: vulnerable" in render_html([row], "2026-12-06")
