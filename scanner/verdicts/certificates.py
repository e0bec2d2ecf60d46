"""Certificate and TLS findings of one endpoint: pure rules over its ``TlsInfo``. The rules over one host's ports
are in ``certificate_host.py``, the fixes both point to in ``certificate_fixes.py``.

Overlap rule: ``cert-untrusted`` is raised only when a more specific high finding does not already explain the trust
failure (a self-signed leaf, an expired or not yet valid leaf). Each finding's detail names the names, dates and
store involved. The ids and their fixes are documented in docs/findings-tls.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from scanner.model import CertificateInfo, Finding, Severity, TlsInfo
from scanner.verdicts.certificate_fixes import (
    CHAIN,
    CLOCK,
    EXCHANGE_DEFAULT,
    LEGACY,
    NAMES,
    NEW_CERT,
    PROFILE,
    RENEW,
    STRONGER,
)
from scanner.verdicts.findings import Remedy

# CA/Browser Forum limit for publicly trusted TLS certificates issued since 2020-09-01 (Apple clients enforce it).
PUBLIC_MAX_VALIDITY_DAYS = 398
_PUBLIC_LIMIT_SINCE = dt.datetime(2020, 9, 1, tzinfo=dt.UTC)

_Add = Callable[[str, Severity, str, str, Remedy], None]


def certificate_findings(
    tls: TlsInfo,
    *,
    expiry_warn_days: int = 30,
    now: dt.datetime | None = None,
    software: str | None = None,
) -> list[Finding]:
    """Findings about one endpoint's certificate and TLS versions. ``software`` picks the remediation text."""
    now = now or dt.datetime.now(dt.UTC)
    found: list[Finding] = []

    def add(id_: str, severity: Severity, title: str, detail: str, remedy: Remedy) -> None:
        found.append(Finding(id_, severity, title, detail, remedy.for_software(software)))

    cert = tls.certificate
    if cert is not None:
        _certificate_rules(cert, add, expiry_warn_days, now)
    if tls.legacy_versions_accepted:
        versions = ", ".join(tls.legacy_versions_accepted)
        untested = f" Not tested: {'; '.join(tls.legacy_versions_untested)}." if tls.legacy_versions_untested else ""
        where = (
            f" Probed on port {tls.legacy_versions_probed_on} of this server (same protocol, certificate and TLS "
            "parameters: one TLS configuration)."
            if tls.legacy_versions_probed_on is not None
            else ""
        )
        add(
            "tls-legacy-version",
            "medium",
            "Legacy TLS versions accepted",
            f"A handshake restricted to {versions} succeeded. These versions lack modern cipher suites and are "
            f"deprecated (RFC 8996); the connection itself negotiated {tls.version or 'unknown'}.{untested}{where}",
            LEGACY,
        )
    return found


def _certificate_rules(cert: CertificateInfo, add: _Add, expiry_warn_days: int, now: dt.datetime) -> None:
    # cryptography comes with scanner.tls.verify: loaded when a certificate is judged, not by every importer
    from scanner.tls.verify import TRUST_EXPIRED, TRUST_NOT_YET_VALID, TRUST_SELF_SIGNED, is_weak_signature

    not_before: dt.datetime = cert.not_before  # plain datetimes: UtcTime - datetime has no typed overload
    not_after: dt.datetime = cert.not_after
    expired = now > not_after
    premature = now < not_before
    kind = cert.trust_error_kind
    where = f"trust store: {cert.trust_store}"

    covered = (kind == TRUST_SELF_SIGNED and cert.self_signed) or (kind == TRUST_EXPIRED and expired)
    covered = covered or (kind == TRUST_NOT_YET_VALID and premature)
    if not cert.trusted and not covered:
        remedy = CHAIN if kind and ("chain" in kind or "issuer" in kind or "root" in kind) else NEW_CERT
        add(
            "cert-untrusted",
            "high",
            "Certificate not trusted",
            f"'{cert.subject}' issued by '{cert.issuer}' does not verify: {cert.trust_error or 'unknown reason'} "
            f"({where}). Clients warn or refuse to connect.",
            remedy,
        )
    if cert.self_signed and not cert.trusted:
        add(
            "cert-self-signed",
            "high",
            "Self-signed certificate",
            f"'{cert.subject}' is signed by its own key ({where}). Every client warns unless it was told to trust "
            "this exact certificate; users learn to click through warnings, which is what an attacker needs.",
            NEW_CERT,
        )
    if cert.exchange_default:
        add(
            "cert-exchange-default",
            "medium",
            "Exchange self-signed certificate on a mail port",
            _exchange_detail(cert),
            EXCHANGE_DEFAULT,
        )
    if cert.name_match is False:
        names = ", ".join(cert.sans) if cert.sans else "none (no subjectAltName; the CN is not used)"
        add(
            "cert-name-mismatch",
            "high",
            "Certificate does not match the server name",
            f"Checked {_name_list(cert)}; the certificate's names are: {names}. Clients connecting by "
            "those names warn or refuse.",
            NAMES,
        )
    elif cert.name_match is None:
        names = ", ".join(cert.sans) if cert.sans else "none (no subjectAltName)"
        tried = f" Tried: {_name_list(cert)}." if cert.name_checks else ""
        add(
            "cert-name-not-checked",
            "info",
            "Certificate name not checked",
            "No name clients are known to use was available (the target is an address, without --expect-name, "
            f"and neither reverse DNS nor an IP address in the certificate settled it).{tried} The certificate's "
            f"names are: {names}. To check: scan by the name clients use, or add --expect-name NAME.",
            NAMES,
        )
    if cert.profile_deviations:
        add(
            "cert-profile-deviation",
            "low",
            "Certificate breaks the strict profile (clients accept it)",
            f"The chain is trusted ({where}), but does not follow RFC 5280 / the CA/Browser Forum profile: "
            f"{'; '.join(cert.profile_deviations)}. Mail clients accept it today; stricter verifiers (recent "
            "Python, Go, some appliances) may not.",
            PROFILE,
        )
    if cert.unchecked:
        add(
            "cert-not-fully-checked",
            "low",
            "Parts of the certificate could not be checked",
            f"mailprobe judged '{cert.subject}' on what it could read; not checked: {'; '.join(cert.unchecked)}. "
            "Clients are likely to refuse what cannot be read.",
            NEW_CERT,
        )
    if expired:
        add(
            "cert-expired",
            "high",
            "Certificate expired",
            f"'{cert.subject}' expired on {cert.not_after} ({-cert.days_left} days ago).",
            RENEW,
        )
    elif premature:
        add(
            "cert-not-yet-valid",
            "high",
            "Certificate not yet valid",
            f"'{cert.subject}' is valid from {cert.not_before}; now is {now.strftime('%Y-%m-%dT%H:%M:%SZ')}.",
            CLOCK,
        )
    elif (not_after - now) <= dt.timedelta(days=expiry_warn_days):
        add(
            "cert-expiring-soon",
            "low",
            "Certificate expires soon",
            f"'{cert.subject}' expires on {cert.not_after}, in {cert.days_left} days "
            f"(warning threshold {expiry_warn_days} days).",
            RENEW,
        )
    weak = weak_key_reason(cert.key_type, cert.key_bits, cert.key)
    if weak:
        add("cert-weak-key", "medium", "Weak certificate key", f"The key is {cert.key}: {weak}.", STRONGER)
    if is_weak_signature(cert.signature_algorithm) and not cert.self_signed:
        add(
            "cert-weak-signature",
            "medium",
            "Weak certificate signature",
            f"'{cert.subject}' is signed with {cert.signature_algorithm}; SHA-1 and MD5 signatures can be forged "
            "and modern clients reject them.",
            STRONGER,
        )
    _validity_rule(cert, add, not_before, not_after)


def _validity_rule(cert: CertificateInfo, add: _Add, not_before: dt.datetime, not_after: dt.datetime) -> None:
    """Long validity: low for a publicly trusted certificate (clients may reject it), info otherwise.

    "Publicly trusted" means trusted by a store without --ca-file; with --ca-file the anchor may be private, and
    private CAs may issue longer certificates (still an info: long-lived keys leak and cannot be revoked well).
    Self-signed certificates are skipped: cert-self-signed already says what to do.
    """
    days = (not_after - not_before).days
    if days <= PUBLIC_MAX_VALIDITY_DAYS or cert.self_signed:
        return
    public = cert.trusted and "ca-file" not in cert.trust_store and not_before >= _PUBLIC_LIMIT_SINCE
    add(
        "cert-long-validity",
        "low" if public else "info",
        "Certificate valid for unusually long",
        f"Valid {days} days ({cert.not_before} to {cert.not_after}); publicly trusted certificates are limited to "
        f"{PUBLIC_MAX_VALIDITY_DAYS} days since 2020-09-01 (less from 2026)"
        + ("; Apple clients reject longer ones." if public else "."),
        RENEW,
    )


def _exchange_detail(cert: CertificateInfo) -> str:
    lowered = cert.subject.lower()
    if "exchange" in lowered or "wmsvc" in lowered:
        return (
            f"'{cert.subject}' is one of the self-signed certificates Exchange makes for its own use (server "
            "authentication, web management); it is not meant for mail clients, yet this port presents it."
        )
    return (
        f"'{cert.subject}' with names {', '.join(cert.sans)} is shaped like the certificate Exchange creates at "
        "setup (self-signed, CN the server's short name, SANs the short name and the FQDN, valid five years), "
        "which Exchange binds to IMAP and POP by default. Clients do not trust it."
    )


def weak_key_reason(key_type: str, key_bits: int | None, words: str = "") -> str | None:
    """Why a key (``CertificateInfo.key_type``/``key_bits``) is weak, or None."""
    bits = key_bits or 0
    if key_type == "RSA":
        return f"RSA keys under 2048 bits can be factored with enough effort ({bits} bits)" if bits < 2048 else None
    if key_type == "EC":
        return f"elliptic curves under 256 bits are too small ({words or bits})" if bits < 256 else None
    if key_type == "DSA":
        return "DSA certificates are no longer supported by TLS 1.3 clients"
    return None


def unreadable_certificate_finding(reason: str, software: str | None) -> Finding:
    """The server's certificate could not be parsed at all: what clients see is a broken handshake."""
    return Finding(
        "cert-unreadable",
        "high",
        "Certificate cannot be read",
        f"The certificate the server presented cannot be parsed ({reason}), so its trust, names and dates could "
        "not be checked. Clients refuse a certificate they cannot parse.",
        NEW_CERT.for_software(software),
    )


def _name_list(cert: CertificateInfo) -> str:
    """ "mail.example.com (scanned name): mismatch; 127.0.0.5 (address): not checked, ..." or the plain list."""
    if not cert.name_checks:
        return ", ".join(cert.names_checked)
    parts = []
    for check in cert.name_checks:
        note = f" - {check.note}" if check.note else ""
        parts.append(f"{check.name} ({_SOURCE_WORDS[check.source]}): {check.result}{note}")
    return "; ".join(parts)


_SOURCE_WORDS = {
    "expect-name": "--expect-name",
    "target": "name scanned",
    "srv": "SRV record",
    "ptr": "reverse DNS",
    "address": "address scanned",
}
