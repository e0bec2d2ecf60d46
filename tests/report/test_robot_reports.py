"""The ROBOT result in every output that shows the TLS configuration and its findings: CSV, Markdown, HTML and the
TUI's detail view, from a result file's row as a scan writes it."""

from __future__ import annotations

import datetime as dt
import re

from scanner.model import (
    CertificateInfo,
    EndpointResult,
    RobotCheck,
    RobotReaction,
    TlsConfiguration,
    TlsInfo,
    VersionSuites,
)
from scanner.report.csv_report import render_csv
from scanner.report.html import render_html
from scanner.report.markdown import render_markdown
from scanner.tui.detail_text import _tls_lines
from scanner.verdicts.robot import robot_finding
from scanner.verdicts.software import DOVECOT


def _certificate() -> CertificateInfo:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    return CertificateInfo(
        subject="CN=mail.example.test", issuer="CN=CA", sans=("DNS:mail.example.test",), not_before=start,
        not_after=start + dt.timedelta(days=90), days_left=89, sha256="ab" * 32, key="RSA 2048",
        signature_algorithm="sha256WithRSAEncryption", chain_length=2, trusted=True, trust_store="--ca-file",
        trust_error=None, self_signed=False, exchange_default=False, name_match=True,
        names_checked=("mail.example.test",), key_type="RSA", key_bits=2048,
    )  # fmt: skip


def _row(robot: RobotCheck) -> EndpointResult:
    config = TlsConfiguration(
        versions=("TLSv1.2",),
        suites=(VersionSuites("TLSv1.2", ("TLS_RSA_WITH_AES_128_GCM_SHA256",), None),),
        robot=robot,
    )
    finding = robot_finding(config, DOVECOT)
    row = EndpointResult(
        "mail.example.test", "192.0.2.7", None, 993, "imap", "implicit", "open",
        tls=TlsInfo("TLSv1.2", "AES128-GCM-SHA256", _certificate(), configuration=config),
        findings=(finding,) if finding else (), software=DOVECOT,
    )  # fmt: skip
    return EndpointResult.from_json(row.to_json())  # as a report reads it back from a results file


STRONG = RobotCheck(
    "vulnerable", "strong", "TLSv1.2", "TLS_RSA_WITH_AES_128_GCM_SHA256",
    (RobotReaction("well-formed", ("alert:20", "alert:20")),
     RobotReaction("wrong-first-bytes", ("alert:51", "alert:51"))),
    10,
)  # fmt: skip


def test_a_strong_oracle_is_a_high_finding_with_the_dovecot_fix_in_every_report() -> None:
    row = _row(STRONG)
    (finding,) = row.findings
    assert (finding.id, finding.severity) == ("tls-robot", "high")
    assert "wrong-first-bytes: alert:51 / alert:51" in finding.detail
    (value,) = re.findall(r"ssl_cipher_list = (\S+)", finding.remediation)  # the exact value to set
    assert all(name.startswith(("ECDHE-", "DHE-")) for name in value.split(":"))  # no RSA key exchange left
    markdown = render_markdown([row], "2026-12-07")
    assert "tls-robot" in markdown and "ROBOT: vulnerable (strong oracle)" in markdown
    html = render_html([row], "2026-12-07")
    assert "tls-robot" in html and "ROBOT: vulnerable (strong oracle)" in html
    assert "tls-robot" in render_csv([row])
    assert any(line.strip().startswith("ROBOT: vulnerable (strong oracle)") for line in _tls_lines(row))


def test_an_inconclusive_check_is_an_info_finding_and_a_clean_one_none() -> None:
    row = _row(
        RobotCheck(
            "inconclusive",
            None,
            "TLSv1.2",
            "TLS_RSA_WITH_AES_128_GCM_SHA256",
            (),
            10,
            "the reactions changed between two rounds",
        )
    )
    assert [(f.id, f.severity) for f in row.findings] == [("tls-robot-inconclusive", "info")]
    assert "Not an all-clear" in row.findings[0].detail
    assert "ROBOT: inconclusive: the reactions changed between two rounds" in render_markdown([row], "2026-12-07")
    for clean in ("not_vulnerable", "not_applicable"):
        assert _row(RobotCheck(clean)).findings == ()  # type: ignore[arg-type]
