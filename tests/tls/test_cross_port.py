"""cross_port_findings over one host's results: differing certificates, implicit TLS missing."""

from __future__ import annotations

from scanner.model import CertificateInfo, EndpointResult, Protocol, State, TlsInfo, Transport
from scanner.verdicts.certificates import cross_port_findings


def _cert(sha: str, subject: str = "CN=imap.example.test") -> CertificateInfo:
    return CertificateInfo(
        subject=subject,
        issuer="CN=CA",
        sans=("imap.example.test",),
        not_before="2026-01-01T00:00:00Z",
        not_after="2026-04-01T00:00:00Z",
        days_left=30,
        sha256=sha * 64,
        key="RSA 2048",
        signature_algorithm="sha256WithRSAEncryption",
        chain_length=2,
        trusted=True,
        trust_store="system",
        trust_error=None,
        self_signed=False,
        exchange_default=False,
        name_match=True,
        names_checked=("imap.example.test",),
    )


def _row(
    port: int,
    protocol: Protocol,
    transport: Transport,
    state: State = "open",
    sha: str | None = "a",
    address: str = "127.0.0.2",
) -> EndpointResult:
    tls = TlsInfo("TLSv1.3", "x", _cert(sha)) if sha and state == "open" else None
    return EndpointResult("h", address, "imap.example.test", port, protocol, transport, state, tls=tls)


def test_same_certificate_everywhere_says_nothing() -> None:
    rows = [
        _row(143, "imap", "starttls"),
        _row(993, "imap", "implicit"),
        _row(110, "pop3", "starttls"),
        _row(995, "pop3", "implicit"),
    ]
    assert cross_port_findings(rows) == {}


def test_differing_certificates_flag_every_tls_port() -> None:
    rows = [
        _row(143, "imap", "starttls", sha="a"),
        _row(993, "imap", "implicit", sha="b"),
        _row(110, "pop3", "starttls", sha=None),
    ]
    found = cross_port_findings(rows)
    assert set(found) == {("127.0.0.2", 143), ("127.0.0.2", 993)}
    (finding,) = found[("127.0.0.2", 993)]
    assert (finding.id, finding.severity) == ("cert-differs-across-ports", "info")
    assert "143:" in finding.detail and "993:" in finding.detail and "bbbbbbbb" in finding.detail


def test_hosts_are_judged_separately() -> None:
    rows = [_row(993, "imap", "implicit", sha="a"), _row(993, "imap", "implicit", sha="b", address="127.0.0.3")]
    assert cross_port_findings(rows) == {}


def test_implicit_tls_missing_only_when_probed_and_not_open() -> None:
    rows = [_row(143, "imap", "starttls"), _row(993, "imap", "implicit", state="closed"), _row(110, "pop3", "starttls")]
    found = cross_port_findings(rows)
    assert set(found) == {("127.0.0.2", 143)}  # 995 was not probed: nothing said about POP3
    (finding,) = found[("127.0.0.2", 143)]
    assert (finding.id, finding.severity) == ("implicit-tls-missing", "low")
    assert "993 closed" in finding.detail
    assert cross_port_findings([_row(143, "imap", "starttls"), _row(993, "imap", "implicit")]) == {}
    # A 993 that listens but fails its handshake is broken (its own row says so), not missing.
    assert cross_port_findings([_row(143, "imap", "starttls"), _row(993, "imap", "implicit", state="error")]) == {}
