"""Results built with the model for the diff, policy and report tests (no network)."""

from __future__ import annotations

from dataclasses import replace

from scanner.model import (
    Capabilities,
    CertificateInfo,
    EndpointResult,
    Finding,
    PlaintextLogin,
    TlsInfo,
)

PLAINTEXT_ACCEPTED = Finding(
    "plaintext-login-accepted",
    "critical",
    "Plaintext login accepted",
    "A password sent in clear is checked by this server.",
    "Set disable_plaintext_auth = yes and reload.",
)
AUTH_ADVERTISED = Finding(
    "plaintext-auth-advertised",
    "medium",
    "Plaintext mechanisms advertised before TLS",
    "AUTH=PLAIN offered in clear.",
    "Hide plaintext mechanisms before TLS.",
)
UNTRUSTED = Finding(
    "certificate-untrusted",
    "high",
    "Certificate not trusted",
    "self-signed",
    "Install a certificate from a trusted CA.",
)
LEGACY = Finding("tls-legacy", "medium", "TLS 1.0 accepted", "TLSv1 handshake completed.", "Set ssl_min_protocol.")


def certificate(
    subject: str = "CN=mail.example.com", sha: str = "aa" * 32, trusted: bool = True, days_left: int = 200
) -> CertificateInfo:
    return CertificateInfo(
        subject=subject,
        issuer="CN=Example CA" if trusted else subject,
        sans=("mail.example.com",),
        not_before="2025-01-01T00:00:00Z",
        not_after="2026-06-01T00:00:00Z",
        days_left=days_left,
        sha256=sha,
        key="EC secp256r1",
        signature_algorithm="ecdsa-with-SHA256",
        chain_length=2 if trusted else 1,
        trusted=trusted,
        trust_store="system",
        trust_error=None if trusted else "self-signed certificate",
        self_signed=not trusted,
        exchange_default=False,
        name_match=True,
        names_checked=("mail.example.com",),
        chain=(f"{subject} <- CN=Example CA",),
    )


def endpoint(
    port: int = 143,
    *,
    host: str = "mail.example.com",
    address: str = "192.0.2.10",
    verdict: str = "refused",
    findings: tuple[Finding, ...] = (),
    cert: CertificateInfo | None = None,
    tls_version: str | None = "TLSv1.3",
    legacy: tuple[str, ...] = (),
    state: str = "open",
    protocol: str | None = None,
) -> EndpointResult:
    implicit = port in (993, 995)
    proto = protocol or ("pop3" if port in (110, 995) else "imap")
    tls = None
    if state == "open" and tls_version is not None:
        tls = TlsInfo(tls_version, "TLS_AES_256_GCM_SHA384", cert or certificate(), legacy_versions_accepted=legacy)
    return EndpointResult(
        host=host,
        address=address,
        name=host if host != address else None,
        port=port,
        protocol=proto,  # type: ignore[arg-type]
        transport="implicit" if implicit else "starttls",
        state=state,  # type: ignore[arg-type]
        error="connection timed out" if state == "error" else None,
        greeting="* OK Dovecot ready." if state == "open" else None,
        software="dovecot" if state == "open" else None,
        capabilities=Capabilities(("IMAP4rev1", "STARTTLS")),
        starttls="not_applicable" if implicit or state != "open" else ("ok" if tls else "not_offered"),
        plaintext_login=PlaintextLogin(
            "not_applicable" if implicit else verdict, ("clear: NO [AUTHENTICATIONFAILED]",)
        ),
        tls=tls,
        findings=findings,
        duration_ms=1234,
    )


def site(verdict_143: str = "refused", findings_143: tuple[Finding, ...] = ()) -> list[EndpointResult]:
    """One host, four ports; the STARTTLS ports share the verdict given."""
    return [
        endpoint(110, verdict=verdict_143, findings=findings_143),
        endpoint(143, verdict=verdict_143, findings=findings_143),
        endpoint(993),
        endpoint(995),
    ]


def with_cert(result: EndpointResult, cert: CertificateInfo) -> EndpointResult:
    assert result.tls is not None
    return replace(result, tls=replace(result.tls, certificate=cert))


def write_jsonl(path, results) -> str:  # type: ignore[no-untyped-def]
    path.write_text("".join(r.to_json() + "\n" for r in results), encoding="utf-8")
    return str(path)
