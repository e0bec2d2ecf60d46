"""Host-level findings over one host's results: differing certificates, implicit TLS missing."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from scanner.model import CertificateInfo, EndpointResult, Finding, Protocol, State, TlsInfo, Transport
from scanner.verdicts.host import host_findings, with_host_findings
from tests.factories import certificate, result


def _row(
    port: int,
    protocol: Protocol,
    transport: Transport,
    state: State = "open",
    sha: str | None = "a",
    address: str = "127.0.0.2",
) -> EndpointResult:
    """A row of one host, server software unknown; ``sha`` tells its certificates apart (None: no TLS on it)."""
    return result(
        port,
        address=address,
        protocol=protocol,
        transport=transport,
        state=state,
        software=None,
        tls_version="TLSv1.3" if sha else None,
        cert=_cert(sha or "a"),
    )


def _cert(sha: str, subject: str = "CN=imap.example.test") -> CertificateInfo:
    return certificate(subject, sha=sha * 64, sans=("imap.example.test",), names_checked=("imap.example.test",))


def test_same_certificate_everywhere_says_nothing() -> None:
    rows = [
        _row(143, "imap", "starttls"),
        _row(993, "imap", "implicit"),
        _row(110, "pop3", "starttls"),
        _row(995, "pop3", "implicit"),
    ]
    assert host_findings(rows) == {}


def test_differing_certificates_flag_every_tls_port() -> None:
    rows = [
        _row(143, "imap", "starttls", sha="a"),
        _row(993, "imap", "implicit", sha="b"),
        _row(110, "pop3", "starttls", sha=None),
    ]
    found = host_findings(rows)
    assert set(found) == {("127.0.0.2", 143), ("127.0.0.2", 993)}
    (finding,) = found[("127.0.0.2", 993)]
    assert (finding.id, finding.severity) == ("cert-differs-across-ports", "info")
    assert "143:" in finding.detail and "993:" in finding.detail and "bbbbbbbb" in finding.detail


def test_hosts_are_judged_separately() -> None:
    rows = [_row(993, "imap", "implicit", sha="a"), _row(993, "imap", "implicit", sha="b", address="127.0.0.3")]
    assert host_findings(rows) == {}


def test_implicit_tls_missing_only_when_probed_and_not_open() -> None:
    rows = [_row(143, "imap", "starttls"), _row(993, "imap", "implicit", state="closed"), _row(110, "pop3", "starttls")]
    found = host_findings(rows)
    assert set(found) == {("127.0.0.2", 143)}  # 995 was not probed: nothing said about POP3
    (finding,) = found[("127.0.0.2", 143)]
    assert (finding.id, finding.severity) == ("implicit-tls-missing", "low")
    assert "993 closed" in finding.detail
    assert host_findings([_row(143, "imap", "starttls"), _row(993, "imap", "implicit")]) == {}
    # A 993 that listens but fails its handshake is broken (its own row says so), not missing.
    assert host_findings([_row(143, "imap", "starttls"), _row(993, "imap", "implicit", state="error")]) == {}


def test_with_host_findings_adds_each_once_in_order() -> None:
    rows = [_row(993, "imap", "implicit", state="closed"), _row(143, "imap", "starttls")]
    once = with_host_findings(rows)
    assert [r.port for r in once] == [993, 143]
    assert [f.id for f in once[1].findings] == ["implicit-tls-missing"] and once[0].findings == ()
    assert with_host_findings(once) == once  # reports and the policy may both add them: nothing doubles


def test_a_new_host_rule_sees_one_host_at_a_time() -> None:
    seen: list[list[int]] = []

    def every_port(rows: Sequence[EndpointResult]) -> Iterator[tuple[EndpointResult, Finding]]:
        seen.append(sorted(r.port for r in rows))
        for r in rows:
            yield r, Finding("x", "info", "x", "x", "x")

    other = _row(110, "pop3", "starttls", address="127.0.0.3")
    rows = [_row(143, "imap", "starttls"), other, _row(993, "imap", "implicit")]
    found = host_findings(rows, rules=(every_port,))
    assert sorted(seen) == [[110], [143, 993]]
    assert set(found) == {("127.0.0.2", 143), ("127.0.0.2", 993), ("127.0.0.3", 110)}


def _named(row: EndpointResult, sha: str, subject: str, name_match: bool) -> EndpointResult:
    from dataclasses import replace

    cert = replace(_cert(sha, subject), name_match=name_match)
    return replace(row, tls=TlsInfo("TLSv1.3", "x", cert))


def test_submission_certificate_is_compared_with_the_mailbox_ports() -> None:
    rows = [
        _row(993, "imap", "implicit", sha="a"),
        _row(995, "pop3", "implicit", sha="a"),
        _row(587, "smtp", "starttls", sha="b"),
        _row(465, "smtp", "implicit", sha="a"),
    ]
    found = host_findings(rows)
    assert set(found) == {("127.0.0.2", 587)}  # 465 serves the mailbox certificate; no generic rule fires
    (finding,) = found[("127.0.0.2", 587)]
    assert (finding.id, finding.severity) == ("submission-cert-mismatch", "medium")
    assert "bbbbbbbb" in finding.detail and "993 'CN=imap.example.test'" in finding.detail
    assert "Client Frontend" in finding.remediation and "Enable-ExchangeCertificate" in finding.remediation
    assert "-Services SMTP" in finding.remediation and "smtpd_tls_chain_files" in finding.remediation


def test_a_wrongly_named_submission_certificate_is_reported_even_when_shared() -> None:
    rows = [
        _row(993, "imap", "implicit", sha="a"),
        _named(_row(587, "smtp", "starttls"), "c", "CN=EX01", False),
        _named(_row(143, "imap", "starttls"), "c", "CN=EX01", False),
    ]
    (finding,) = host_findings(rows)[("127.0.0.2", 587)]
    assert "does not match imap.example.test, while port 993's does" in finding.detail
    # no mailbox port with a certificate: nothing to compare with
    assert host_findings([_row(587, "smtp", "starttls", sha="b"), _row(143, "imap", "starttls", sha=None)]) == {}


def test_submission_465_missing_only_when_probed_and_not_open() -> None:
    rows = [_row(587, "smtp", "starttls"), _row(465, "smtp", "implicit", state="closed"), _row(993, "imap", "implicit")]
    (finding,) = host_findings(rows)[("127.0.0.2", 587)]
    assert (finding.id, finding.severity) == ("submission-465-missing", "low")
    assert "465 closed" in finding.detail and "submissions inet" in finding.remediation
    assert host_findings([_row(587, "smtp", "starttls"), _row(993, "imap", "implicit")]) == {}  # 465 not probed
    assert host_findings([_row(587, "smtp", "starttls"), _row(465, "smtp", "implicit", state="error")]) == {}
