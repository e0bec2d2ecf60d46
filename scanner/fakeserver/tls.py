"""Server-side TLS contexts for the fake servers, from cert/key files or made on the spot with scanner.certgen.

The profile's ``certificate`` field names a kind; the caller (a test, the demo) decides what to present.
"""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

from scanner import certgen

CERTIFICATE_KINDS: tuple[str, ...] = ("ca-signed", "exchange-default", "self-signed", "expired", "wrong-name")


def server_context(cert_path: str | Path, key_path: str | Path) -> ssl.SSLContext:
    """A server context presenting the chain in ``cert_path``; TLS 1.2+ like any current mail server."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert_path), str(key_path))
    return ctx


def make_certificate(kind: str, host: str, ip: str, ca: certgen.CA | None = None) -> certgen.Issued:
    """A certificate of one of CERTIFICATE_KINDS for ``host``/``ip``; "ca-signed", "expired" and "wrong-name" are
    signed by ``ca`` (made if not given)."""
    if kind == "exchange-default":
        return certgen.exchange_default(host if "." in host else f"{host}.corp.example.test")
    if kind == "self-signed":
        return certgen.self_signed(host, [host], ip_addresses=[ip])
    ca = ca or certgen.make_ca()
    if kind == "ca-signed":
        return ca.issue([host], ip_addresses=[ip])
    if kind == "expired":
        start = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
        return ca.issue([host], ip_addresses=[ip], not_before=start, days=365)
    if kind == "wrong-name":
        return ca.issue(["other.example.test"])
    raise ValueError(f"unknown certificate kind {kind!r}; known: {', '.join(CERTIFICATE_KINDS)}")


def context_for(kind: str, host: str, ip: str, directory: str | Path, ca: certgen.CA | None = None) -> ssl.SSLContext:
    """Make a certificate of ``kind``, write it under ``directory`` and return a server context presenting it."""
    issued = make_certificate(kind, host, ip, ca)
    cert_path, key_path = issued.write(directory, f"{kind}-{host}")
    return server_context(cert_path, key_path)
