"""The one factory of results for the tests: an ``EndpointResult`` (and its ``CertificateInfo``) as the probe would
write it, with the defaults of an ordinary, well-run server; any field can be given.

``result(state="closed")`` is a bare row (no greeting, TLS or verdict), ``result()`` an open STARTTLS IMAP port on
192.0.2.10 that refuses the dummy login in clear and presents a trusted certificate. Addresses are documentation
ones unless a test passes loopback: nothing here touches the network.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from scanner.model import (
    Capabilities,
    CertificateInfo,
    EndpointResult,
    Finding,
    PlaintextLogin,
    Protocol,
    TlsInfo,
)

# smtp is submission (587/465), as in the model: the protocol a probe writes
_IMPLICIT_PORTS: dict[int, Protocol] = {993: "imap", 995: "pop3", 465: "smtp"}
_STARTTLS_PORTS: dict[int, Protocol] = {143: "imap", 110: "pop3", 587: "smtp"}


def certificate(
    subject: str = "CN=mail.example.com",
    *,
    sha: str = "aa" * 32,
    trusted: bool = True,
    days_left: int = 200,
    **fields: Any,
) -> CertificateInfo:
    """A leaf certificate; untrusted means self-signed (issuer = subject, one certificate, the trust error said)."""
    values: dict[str, Any] = {
        "subject": subject,
        "issuer": "CN=Example CA" if trusted else subject,
        "sans": ("mail.example.com",),
        "not_before": "2025-01-01T00:00:00Z",
        "not_after": "2026-06-01T00:00:00Z",
        "days_left": days_left,
        "sha256": sha,
        "key": "EC secp256r1",
        "signature_algorithm": "ecdsa-with-SHA256",
        "chain_length": 2 if trusted else 1,
        "trusted": trusted,
        "trust_store": "system",
        "trust_error": None if trusted else "self-signed certificate",
        "self_signed": not trusted,
        "exchange_default": False,
        "name_match": True,
        "names_checked": ("mail.example.com",),
        "chain": (f"{subject} <- CN=Example CA",),
    }
    values.update(fields)
    return CertificateInfo(**values)


def result(
    port: int = 143,
    *,
    address: str = "192.0.2.10",
    host: str | None = None,
    state: str = "open",
    protocol: Protocol | None = None,
    transport: str | None = None,
    verdict: str = "refused",
    cert: CertificateInfo | None = None,
    tls_version: str | None = "TLSv1.3",
    legacy: tuple[str, ...] = (),
    findings: tuple[Finding, ...] = (),
    **fields: Any,
) -> EndpointResult:
    """One endpoint's row. The protocol and transport follow the port (993/995/465 implicit TLS) unless given; an
    open row gets a greeting, capabilities, a verdict, TLS with ``cert`` (a default one when None) unless
    ``tls_version`` is None; any other ``EndpointResult`` field can be passed by name."""
    implicit = port in _IMPLICIT_PORTS
    transport = transport or ("implicit" if implicit else "starttls")
    protocol = protocol or _IMPLICIT_PORTS.get(port) or _STARTTLS_PORTS.get(port, "imap")
    host = host or address
    is_open = state == "open"
    tls = None
    if is_open and tls_version is not None:
        tls = TlsInfo(tls_version, "TLS_AES_256_GCM_SHA384", cert or certificate(), legacy_versions_accepted=legacy)
    values: dict[str, Any] = {
        "host": host,
        "address": address,
        "name": host if host != address else None,
        "port": port,
        "protocol": protocol,
        "transport": transport,
        "state": state,
        "error": "connection timed out" if state == "error" else None,
        "greeting": "* OK Dovecot ready." if is_open else None,
        "software": "dovecot" if is_open else None,
        "capabilities": Capabilities(("IMAP4rev1", "STARTTLS")) if is_open else Capabilities(),
        "starttls": "not_applicable" if transport == "implicit" or not is_open else ("ok" if tls else "not_offered"),
        "plaintext_login": PlaintextLogin(
            "not_applicable" if transport == "implicit" else verdict, ("clear: NO [AUTHENTICATIONFAILED]",)
        )
        if is_open
        else PlaintextLogin("not_tested"),
        "tls": tls,
        "findings": findings,
        "duration_ms": 1234 if is_open else 0,
    }
    unknown = set(fields) - {f.name for f in dataclasses.fields(EndpointResult)}
    if unknown:
        raise TypeError(f"EndpointResult has no field(s) {sorted(unknown)}")
    values.update(fields)
    return EndpointResult(**values)
