"""Certificate rules over one host's ports (run by ``scanner.verdicts.host``): one certificate per host, and an
implicit-TLS port beside each STARTTLS one."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from scanner.model import EndpointResult, Finding
from scanner.verdicts.certificate_fixes import IMPLICIT, SAME_CERT


def differing_certificates(rows: Sequence[EndpointResult]) -> Iterator[tuple[EndpointResult, Finding]]:
    """Host rule: cert-differs-across-ports (info) on every TLS port when the host presents more than one
    certificate. Submission ports (smtp) are compared with these by submission_host.submission_certificate_mismatch."""
    with_cert = [
        r
        for r in rows
        if r.protocol != "smtp" and r.state == "open" and r.tls is not None and r.tls.certificate is not None
    ]
    fingerprints = {r.tls.certificate.sha256 for r in with_cert}  # type: ignore[union-attr]
    if len(fingerprints) < 2:
        return
    listing = "; ".join(
        f"{r.port}: '{r.tls.certificate.subject}' sha256 {r.tls.certificate.sha256[:16]}..."  # type: ignore[union-attr]
        for r in sorted(with_cert, key=lambda r: r.port)
    )
    for r in with_cert:
        yield (
            r,
            Finding(
                "cert-differs-across-ports",
                "info",
                "Different certificates on the same host",
                f"{len(fingerprints)} different certificates on {r.address}: {listing}.",
                SAME_CERT.for_software(r.software),
            ),
        )


def implicit_tls_missing(rows: Sequence[EndpointResult]) -> Iterator[tuple[EndpointResult, Finding]]:
    """Host rule: implicit-tls-missing (low) on an open STARTTLS port when the implicit-TLS port of the same protocol
    (993 for IMAP, 995 for POP3) was probed on this host and is not open. Not probed: nothing is said."""
    for protocol, port in (("imap", 993), ("pop3", 995)):
        implicit = [r for r in rows if r.protocol == protocol and r.transport == "implicit"]
        # A listener whose handshake fails ("error") is broken, not missing: starttls/implicit rows say so.
        if not implicit or any(r.state in ("open", "error") for r in implicit):
            continue
        states = ", ".join(f"{r.port} {r.state}" for r in implicit)
        for r in rows:
            if r.protocol == protocol and r.transport == "starttls" and r.state == "open":
                yield (
                    r,
                    Finding(
                        "implicit-tls-missing",
                        "low",
                        "No implicit TLS port",
                        f"{protocol.upper()} answers on {r.port} (STARTTLS) but not with implicit TLS ({states}). "
                        f"RFC 8314 prefers implicit TLS (port {port}): no cleartext phase to strip or inject into.",
                        IMPLICIT.for_software(r.software),
                    ),
                )
