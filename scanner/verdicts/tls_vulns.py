"""Findings for Heartbleed (CVE-2014-0160) and the OpenSSL CCS injection (CVE-2014-0224), from the checks of the
enumerated configuration (scanner.tls.vulns decides them; this only words them). Pure rules.

An inconclusive check is an info finding of its own, so that it never reads as an all-clear; not_applicable (TLS 1.3
only), not_tested and not_vulnerable say nothing."""

from __future__ import annotations

from scanner.model import Finding, Severity, TlsConfiguration, VulnerabilityCheck
from scanner.verdicts.software import DOVECOT, EXCHANGE, POSTFIX

_NOT_SCHANNEL = (
    "SCHANNEL, which Exchange's IMAP, POP and SMTP use, never had this bug: it is OpenSSL's. So what answered here is "
    "not SCHANNEL but something in front of Exchange (a load balancer, reverse proxy or TLS offloader) or another "
    "server on this address: update its firmware or its OpenSSL ({fixed})."
)
_UPGRADE = (
    "Upgrade the OpenSSL {server} is linked against ({fixed}; `ldd {binary} | grep libssl` names the library): "
    "Debian/Ubuntu `apt-get update && apt-get install --only-upgrade openssl libssl1.0.0` (the release's libssl "
    "package: libssl1.0.0 on the releases of 2014, libssl3 on today's), RHEL/CentOS `yum update openssl "
    "openssl-libs`; then `systemctl restart {unit}`: a reload leaves the old library in the running processes. A "
    "{server} built against an OpenSSL of its own must be rebuilt."
)
_NEW_KEY = (
    " Then, since what leaked cannot be known: a new private key and certificate (revoke the old one), and new "
    "passwords for the accounts that logged in over TLS."
)

# check -> (finding id, title, severity, what it means, the fixed OpenSSL releases)
_BUGS: dict[str, tuple[str, str, Severity, str, str]] = {
    "heartbleed": (
        "tls-heartbleed",
        "Heartbleed (CVE-2014-0160): anyone can read the server's memory",
        "critical",
        "Without logging in, any client can read up to 64 KB of the TLS process's memory per heartbeat request, as "
        "often as it likes: private keys, passwords of users logging in, mail in transit. mailprobe counted the "
        "bytes and kept none.",
        "OpenSSL 1.0.1g or later",
    ),
    "ccs_injection": (
        "tls-ccs-injection",
        "OpenSSL CCS injection (CVE-2014-0224): the server takes an early ChangeCipherSpec",
        "high",
        "A man in the middle can have the server switch to keys derived from an empty master secret; against an "
        "OpenSSL client of before 1.0.1h as well, it can then read and change the session, logins included.",
        "OpenSSL 0.9.8za, 1.0.0m, 1.0.1h or later",
    ),
}


def vulnerability_findings(configuration: TlsConfiguration, software: str | None) -> list[Finding]:
    findings = []
    for name, check in (("heartbleed", configuration.heartbleed), ("ccs_injection", configuration.ccs_injection)):
        finding = _finding(name, check, software)
        if finding is not None:
            findings.append(finding)
    return findings


def _finding(name: str, check: VulnerabilityCheck, software: str | None) -> Finding | None:
    ident, title, severity, means, fixed = _BUGS[name]
    on = f" ({check.version})" if check.version else ""
    if check.verdict == "vulnerable":
        detail = f"{check.evidence}{on}. {means}"
        return Finding(ident, severity, title, detail, _fix(name, fixed, software))
    if check.verdict == "inconclusive":
        return Finding(
            f"{ident}-inconclusive",
            "info",
            f"{title.split(':')[0]} could not be ruled out",
            f"{check.evidence}{on}. Not an all-clear: ask again, or check the server's OpenSSL version.",
            _fix(name, fixed, software),
        )
    return None


def _fix(name: str, fixed: str, software: str | None) -> str:
    extra = _NEW_KEY if name == "heartbleed" else ""
    exchange = _NOT_SCHANNEL.format(fixed=fixed) + extra
    dovecot = _UPGRADE.format(server="Dovecot", fixed=fixed, binary="/usr/lib/dovecot/imap-login", unit="dovecot")
    postfix = _UPGRADE.format(server="Postfix", fixed=fixed, binary="/usr/lib/postfix/sbin/smtpd", unit="postfix")
    if software == EXCHANGE:
        return exchange
    if software == DOVECOT:
        return dovecot + extra
    if software == POSTFIX:
        return postfix + extra
    return f"Exchange: {exchange} Dovecot: {dovecot} Postfix: {postfix}{extra}"
