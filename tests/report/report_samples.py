"""Results built with the model for the diff, policy and report tests (no network)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from scanner.model import CertificateInfo, EndpointResult, Finding
from tests.factories import certificate, result

__all__ = [
    "AUTH_ADVERTISED",
    "LEGACY",
    "PLAINTEXT_ACCEPTED",
    "UNTRUSTED",
    "certificate",
    "endpoint",
    "site",
    "with_cert",
    "write_jsonl",
]

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


def endpoint(port: int = 143, *, host: str = "mail.example.com", **fields: Any) -> EndpointResult:
    """A row of mail.example.com (192.0.2.10) from the shared factory."""
    return result(port, host=host, **fields)


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
