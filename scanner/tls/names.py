"""Which names a client would check against the certificate, and the result for each (RFC 6125, RFC 7817).

    checks = [NameCandidate("target", "mail.example.com"), NameCandidate("ptr", "host-5.example.net")]
    match, results = judge_names(checks, dns_sans=["mail.example.com"], ip_sans=[])

Only subjectAltName entries count (no CN fallback); a wildcard only as the whole left-most label, matching exactly
one label; an address matches IP address SANs only.

The names a user stands behind (--expect-name, the name scanned, an SRV record) decide: one matching is a match, all
failing is a mismatch. A scanned address decides only when the certificate names IP addresses (then it is meant to
be reached by address); otherwise it is not checked. The PTR name is a guess at what clients use: it can confirm a
match but never make a mismatch. With nothing that decides, the check is "not checked" and the result says how to
check it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from scanner.model import NameCheck, NameSource

_DECISIVE: frozenset[str] = frozenset({"expect-name", "target", "srv", "address"})


@dataclass(frozen=True)
class NameCandidate:
    source: NameSource
    name: str


def judge_names(
    candidates: Iterable[NameCandidate], dns_sans: Sequence[str], ip_sans: Sequence[str]
) -> tuple[bool | None, tuple[NameCheck, ...]]:
    """(name_match, one NameCheck per distinct candidate). name_match None: no name clients are known to use."""
    checks: list[NameCheck] = []
    seen: set[str] = set()
    for candidate in candidates:
        name = candidate.name.strip().rstrip(".").lower()
        if not name or name in seen:
            continue
        seen.add(name)
        checks.append(_check(candidate.source, name, dns_sans, ip_sans))
    if any(c.result == "match" for c in checks):
        return True, tuple(checks)
    if any(c.result == "mismatch" and c.source in _DECISIVE for c in checks):
        return False, tuple(checks)
    return None, tuple(checks)


def _check(source: NameSource, name: str, dns_sans: Sequence[str], ip_sans: Sequence[str]) -> NameCheck:
    if source == "address" and not ip_sans:
        return NameCheck(name, source, "not checked", "the certificate names no IP address")
    if matches_name(name, dns_sans, ip_sans):
        return NameCheck(name, source, "match")
    if source == "ptr":
        return NameCheck(name, source, "mismatch", "a reverse-DNS name is a guess at what clients use: not judged")
    return NameCheck(name, source, "mismatch")


def split_sans(sans: Iterable[str]) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) from the flat ``CertificateInfo.sans`` list."""
    dns: list[str] = []
    ips: list[str] = []
    for san in sans:
        (ips if _as_ip(san) is not None else dns).append(san)
    return dns, ips


def matches_name(name: str, dns_sans: Sequence[str], ip_sans: Sequence[str]) -> bool:
    """RFC 6125 matching of one reference name (host name or IP literal) against the SANs."""
    ip = _as_ip(name)
    if ip is not None:
        return any(_as_ip(s) == ip for s in ip_sans)
    wanted = normal_dns(name)
    return bool(wanted) and any(_dns_match(wanted, normal_dns(pattern)) for pattern in dns_sans)


def normal_dns(name: str) -> str:
    name = name.strip().rstrip(".").lower()
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name


def _dns_match(name: str, pattern: str) -> bool:
    if not pattern.startswith("*."):
        return "*" not in pattern and name == pattern
    suffix = pattern[2:]
    if "*" in suffix or "." not in suffix:  # "*.com" and nested wildcards never match
        return False
    head, dot, rest = name.partition(".")
    return bool(head and dot) and rest == suffix


def _as_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
