"""Certificate and TLS findings: pure rules over ``TlsInfo`` (one endpoint) and over one host's results (the host
rules here are run by ``scanner.verdicts.host``).

Overlap rule: ``cert-untrusted`` is raised only when a more specific high finding does not already explain the trust
failure (a self-signed leaf, an expired or not yet valid leaf). Each finding's detail names the names, dates and
store involved. The ids and their fixes are documented in docs/findings-tls.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence

from scanner.model import CertificateInfo, EndpointResult, Finding, Severity, TlsInfo
from scanner.verdicts.findings import Remedy

# CA/Browser Forum limit for publicly trusted TLS certificates issued since 2020-09-01 (Apple clients enforce it).
PUBLIC_MAX_VALIDITY_DAYS = 398
_PUBLIC_LIMIT_SINCE = dt.datetime(2020, 9, 1, tzinfo=dt.UTC)

_Add = Callable[[str, Severity, str, str, Remedy], None]

_RESTART_EXCHANGE = (
    "restart the IMAP4/POP3 services (Restart-Service MSExchangeIMAP4, MSExchangeIMAP4BE, MSExchangePOP3, "
    "MSExchangePOP3BE)"
)
_BIND_EXCHANGE = (
    "bind it with Enable-ExchangeCertificate -Thumbprint <thumbprint> -Services IMAP,POP, set "
    "Set-ImapSettings -X509CertificateName <name clients use> and Set-PopSettings -X509CertificateName <same>, then "
    + _RESTART_EXCHANGE
)

_NEW_CERT = Remedy(
    exchange=(
        "Request a certificate from a CA the clients trust (a public CA, or the organisation's CA deployed to every "
        "client) with SANs for every name clients use: New-ExchangeCertificate -GenerateRequest, then "
        f"Import-ExchangeCertificate; {_BIND_EXCHANGE}."
    ),
    dovecot=(
        "Set ssl_cert = </path/fullchain.pem (leaf then intermediates) and ssl_key = </path/privkey.pem to a "
        "certificate from a CA the clients trust whose SANs cover the names clients use; then doveadm reload."
    ),
    generic="Serve a certificate from a CA the clients trust, with SANs for every name clients use.",
)

_NAMES = Remedy(
    exchange=(
        "Get a certificate whose SANs include every name clients use (New-ExchangeCertificate -GenerateRequest "
        "-DomainName <names>, then Import-ExchangeCertificate); "
        f"{_BIND_EXCHANGE}. Set-ImapSettings/Set-PopSettings -X509CertificateName picks which bound certificate "
        "is presented."
    ),
    dovecot=(
        "Use a certificate whose SANs include the names clients use (ssl_cert/ssl_key); for several names, "
        "one certificate with all SANs or per-name blocks local_name mail.example.com { ssl_cert = ... }; "
        "doveadm reload."
    ),
    generic="Use a certificate whose subjectAltName covers the names clients connect to, or point clients at it.",
)

_CHAIN = Remedy(
    exchange=(
        "Import the issuing CA's intermediate certificate into the computer's Intermediate Certification "
        "Authorities store (Exchange sends the chain Windows builds), check with Get-ExchangeCertificate | fl "
        f"Status, or re-import with Import-ExchangeCertificate; then {_RESTART_EXCHANGE}. For an internal CA, "
        "deploy its root to the clients (and use --ca-file to scan)."
    ),
    dovecot=(
        "Put the leaf followed by the intermediates in the file named by ssl_cert (a full chain, not the leaf "
        "alone), keep ssl_key matching; doveadm reload. For an internal CA, deploy its root to the clients."
    ),
    generic="Send the intermediate certificates with the leaf; make sure the root is trusted by the clients.",
)

_RENEW = Remedy(
    exchange=(
        "Renew: New-ExchangeCertificate -GenerateRequest (or Get-ExchangeCertificate -Thumbprint <t> | "
        "New-ExchangeCertificate -GenerateRequest) then Import-ExchangeCertificate; "
        f"{_BIND_EXCHANGE}; remove the old certificate."
    ),
    dovecot="Renew the certificate (automate it, e.g. ACME), update the ssl_cert/ssl_key files; doveadm reload.",
    generic="Renew the certificate before it expires and automate renewal.",
)

_CLOCK = Remedy(
    exchange=(
        "Check the server's clock and the certificate's start date; bind a certificate valid now: " + _BIND_EXCHANGE
    ),
    dovecot="Check the server's clock and the certificate's start date; point ssl_cert/ssl_key at a valid one.",
    generic="A certificate is not valid before its start date: check clocks, or use a certificate valid now.",
)

_STRONGER = Remedy(
    exchange=(
        "Issue a new certificate with an RSA 2048+ bit key (New-ExchangeCertificate -KeySize 2048 or more) signed "
        f"with SHA-256, Import-ExchangeCertificate, {_BIND_EXCHANGE}."
    ),
    dovecot="Replace the certificate (RSA 2048+ or ECDSA P-256+, SHA-256 signature) in ssl_cert/ssl_key; reload.",
    generic="Use RSA keys of 2048 bits or more (or ECDSA P-256+) and SHA-256 or better signatures.",
)

_LEGACY = Remedy(
    exchange=(
        "Disable TLS 1.0/1.1 (and SSL 3.0) in SCHANNEL: HKLM\\SYSTEM\\CurrentControlSet\\Control\\"
        "SecurityProviders\\SCHANNEL\\Protocols\\TLS 1.0\\Server and ...\\TLS 1.1\\Server, Enabled=0 and "
        "DisabledByDefault=1 (Microsoft's Exchange TLS guidance), then reboot; check old clients first."
    ),
    dovecot="Set ssl_min_protocol = TLSv1.2 (the default since Dovecot 2.3.15) and doveadm reload.",
    generic="Accept TLS 1.2 and 1.3 only.",
)

_PROFILE = Remedy(
    exchange=(
        "Nothing breaks today. When the certificate is next renewed, have the CA issue it with Authority and "
        "Subject Key Identifiers (AD CS templates include them by default); re-import and bind it as usual."
    ),
    dovecot=(
        "Nothing breaks today. At the next renewal, issue the certificates with the usual extensions (openssl: "
        "authorityKeyIdentifier=keyid,issuer and subjectKeyIdentifier=hash in the CA's extension section)."
    ),
    generic="Reissue the CA and server certificates with the standard extensions at the next renewal.",
)

_SAME_CERT = Remedy(
    exchange=(
        "Exchange presents one certificate for IMAP and POP on every port: check Get-ExchangeCertificate | "
        "fl Thumbprint,Services, Enable-ExchangeCertificate -Services IMAP,POP on the right one, and "
        f"Set-ImapSettings/Set-PopSettings -X509CertificateName; {_RESTART_EXCHANGE}. Different certificates "
        "usually mean a load balancer or another server answers on some ports."
    ),
    dovecot=(
        "Check ssl_cert/ssl_key in protocol and local/remote blocks (doveconf -n): one certificate for all "
        "listeners avoids surprises; a proxy in front of some ports may present its own."
    ),
    generic="Present the same certificate on every mail port of a host, or make sure each one is right.",
)

_IMPLICIT = Remedy(
    exchange=(
        "Offer IMAP on 993 and POP on 995: Set-ImapSettings -SSLBindings 0.0.0.0:993,[::]:993 and "
        "Set-PopSettings -SSLBindings 0.0.0.0:995,[::]:995 with a bound certificate, open the firewall, "
        f"then {_RESTART_EXCHANGE}."
    ),
    dovecot="Enable the imaps/pop3s listeners (service imap-login { inet_listener imaps { port = 993 ssl = yes } }).",
    generic="Offer implicit TLS on 993 (IMAP) and 995 (POP3); RFC 8314 prefers it to STARTTLS.",
)

_EXCHANGE_DEFAULT = Remedy(
    exchange=(
        "Exchange binds its self-signed certificate to IMAP and POP at setup. Replace it for IMAP/POP: "
        f"New-ExchangeCertificate -GenerateRequest, Import-ExchangeCertificate, {_BIND_EXCHANGE}. Leave the "
        "'Microsoft Exchange Server Auth Certificate' for OAuth/server auth alone, but never bind it to IMAP/POP."
    ),
    dovecot="Not Exchange's doing here: check what answers on this port, then set ssl_cert/ssl_key.",
    generic="Replace Exchange's self-signed certificate with one from a CA the clients trust.",
)


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
            _LEGACY,
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
        remedy = _CHAIN if kind and ("chain" in kind or "issuer" in kind or "root" in kind) else _NEW_CERT
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
            _NEW_CERT,
        )
    if cert.exchange_default:
        add(
            "cert-exchange-default",
            "medium",
            "Exchange self-signed certificate on a mail port",
            _exchange_detail(cert),
            _EXCHANGE_DEFAULT,
        )
    if cert.name_match is False:
        names = ", ".join(cert.sans) if cert.sans else "none (no subjectAltName; the CN is not used)"
        add(
            "cert-name-mismatch",
            "high",
            "Certificate does not match the server name",
            f"Checked {_name_list(cert)}; the certificate's names are: {names}. Clients connecting by "
            "those names warn or refuse.",
            _NAMES,
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
            _NAMES,
        )
    if cert.profile_deviations:
        add(
            "cert-profile-deviation",
            "low",
            "Certificate breaks the strict profile (clients accept it)",
            f"The chain is trusted ({where}), but does not follow RFC 5280 / the CA/Browser Forum profile: "
            f"{'; '.join(cert.profile_deviations)}. Mail clients accept it today; stricter verifiers (recent "
            "Python, Go, some appliances) may not.",
            _PROFILE,
        )
    if cert.unchecked:
        add(
            "cert-not-fully-checked",
            "low",
            "Parts of the certificate could not be checked",
            f"mailprobe judged '{cert.subject}' on what it could read; not checked: {'; '.join(cert.unchecked)}. "
            "Clients are likely to refuse what cannot be read.",
            _NEW_CERT,
        )
    if expired:
        add(
            "cert-expired",
            "high",
            "Certificate expired",
            f"'{cert.subject}' expired on {cert.not_after} ({-cert.days_left} days ago).",
            _RENEW,
        )
    elif premature:
        add(
            "cert-not-yet-valid",
            "high",
            "Certificate not yet valid",
            f"'{cert.subject}' is valid from {cert.not_before}; now is {now.strftime('%Y-%m-%dT%H:%M:%SZ')}.",
            _CLOCK,
        )
    elif (not_after - now) <= dt.timedelta(days=expiry_warn_days):
        add(
            "cert-expiring-soon",
            "low",
            "Certificate expires soon",
            f"'{cert.subject}' expires on {cert.not_after}, in {cert.days_left} days "
            f"(warning threshold {expiry_warn_days} days).",
            _RENEW,
        )
    weak = weak_key_reason(cert.key_type, cert.key_bits, cert.key)
    if weak:
        add("cert-weak-key", "medium", "Weak certificate key", f"The key is {cert.key}: {weak}.", _STRONGER)
    if is_weak_signature(cert.signature_algorithm) and not cert.self_signed:
        add(
            "cert-weak-signature",
            "medium",
            "Weak certificate signature",
            f"'{cert.subject}' is signed with {cert.signature_algorithm}; SHA-1 and MD5 signatures can be forged "
            "and modern clients reject them.",
            _STRONGER,
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
        _RENEW,
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
        _NEW_CERT.for_software(software),
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
                _SAME_CERT.for_software(r.software),
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
                        _IMPLICIT.for_software(r.software),
                    ),
                )
