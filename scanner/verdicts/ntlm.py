"""NTLM information disclosure: where NTLM is offered, what its CHALLENGE tells, and the finding.

A server offering NTLM answers a NEGOTIATE, which holds no credential, with a CHALLENGE naming its Active Directory
domain, its host names and its Windows build: anyone who connects learns them, in clear when NTLM is offered before
STARTTLS. nmap's imap-, pop3- and smtp-ntlm-info scripts report the same names; this also names the Windows release
of the build and says whether it is still supported.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from scanner.model import NTLM_NAME_FIELDS, Finding, NtlmInfo, Protocol
from scanner.protocols.ntlm import Challenge
from scanner.verdicts.findings import Remedy


def ntlm_offered(protocol: Protocol, capabilities: tuple[str, ...]) -> bool:
    """IMAP ``AUTH=NTLM``, POP3 ``SASL ... NTLM``, SMTP ``AUTH ... NTLM`` (or the old ``AUTH=... NTLM``)."""
    for cap in capabilities:
        upper = cap.upper()
        if protocol == "imap":
            if upper == "AUTH=NTLM":
                return True
            continue
        words = upper.replace("=", " ", 1).split() if upper.startswith("AUTH=") else upper.split()
        keyword = "SASL" if protocol == "pop3" else "AUTH"
        if words and words[0] == keyword and "NTLM" in words[1:]:
            return True
    return False


def ntlm_info(challenge: Challenge, *, over_tls: bool) -> NtlmInfo:
    """The row's record of a CHALLENGE (names kept as sent; empty ones as absent)."""
    stamp = challenge.timestamp
    return NtlmInfo(
        over_tls=over_tls,
        product_version=str(challenge.version) if challenge.version else None,
        server_time=stamp.strftime("%Y-%m-%dT%H:%M:%SZ") if stamp else None,
        problems=challenge.problems,
        **{name: getattr(challenge, name) or None for name in NTLM_NAME_FIELDS},
    )


@dataclass(frozen=True)
class WindowsRelease:
    name: str
    support_ends: dt.date  # end of Microsoft's extended support


# Build numbers of the Windows Server releases Exchange runs on (and older ones still met); client Windows shares
# the kernel builds of some of them.
_RELEASES: dict[tuple[int, ...], WindowsRelease] = {
    (5, 2, 3790): WindowsRelease("Windows Server 2003", dt.date(2015, 7, 14)),
    (6, 0, 6001): WindowsRelease("Windows Server 2008", dt.date(2020, 1, 14)),
    (6, 0, 6002): WindowsRelease("Windows Server 2008 SP2", dt.date(2020, 1, 14)),
    (6, 0, 6003): WindowsRelease("Windows Server 2008 SP2", dt.date(2020, 1, 14)),
    (6, 1, 7600): WindowsRelease("Windows Server 2008 R2", dt.date(2020, 1, 14)),
    (6, 1, 7601): WindowsRelease("Windows Server 2008 R2 SP1", dt.date(2020, 1, 14)),
    (6, 2, 9200): WindowsRelease("Windows Server 2012", dt.date(2023, 10, 10)),
    (6, 3, 9600): WindowsRelease("Windows Server 2012 R2", dt.date(2023, 10, 10)),
    (10, 0, 14393): WindowsRelease("Windows Server 2016", dt.date(2027, 1, 12)),
    (10, 0, 17763): WindowsRelease("Windows Server 2019", dt.date(2029, 1, 9)),
    (10, 0, 20348): WindowsRelease("Windows Server 2022", dt.date(2031, 10, 14)),
    (10, 0, 26100): WindowsRelease("Windows Server 2025", dt.date(2034, 10, 10)),
}


def windows_release(product_version: str | None) -> WindowsRelease | None:
    """The release of a "major.minor.build" version, when the build is one Microsoft shipped as a server."""
    try:
        key = tuple(int(part) for part in (product_version or "").split("."))
    except ValueError:
        return None
    return _RELEASES.get(key)


_FIELD_WORDS = {
    "target_name": "target name",
    "netbios_computer": "NetBIOS computer name",
    "netbios_domain": "NetBIOS domain",
    "dns_computer": "DNS computer name",
    "dns_domain": "DNS domain",
    "dns_tree": "DNS forest",
}


def _disable_ntlm(protocol: Protocol) -> Remedy:
    if protocol == "smtp":
        exchange = (
            'Set-ReceiveConnector "Client Frontend <server>" -AuthMechanism Tls,BasicAuth,BasicAuthRequireTLS '
            "(without Integrated) stops offering NTLM on submission"
        )
    else:
        cmdlet = "Set-ImapSettings" if protocol == "imap" else "Set-PopSettings"
        service = "MSExchangeIMAP4" if protocol == "imap" else "MSExchangePOP3"
        exchange = f"{cmdlet} -EnableGSSAPIAndNTLMAuth $false, then Restart-Service {service}"
    return Remedy(
        exchange=exchange + ".",
        dovecot="Remove ntlm from auth_mechanisms (and auth_use_winbind if only NTLM needs it), then doveadm reload.",
        generic="Stop offering NTLM to clients on untrusted networks.",
    )


_ACCEPT = (
    " Or accept it and document it: the names are those of the server's Active Directory, known to every domain "
    "member, but here told to anyone who connects."
)


def ntlm_findings(protocol: Protocol, software: str | None, info: NtlmInfo | None, today: dt.date) -> list[Finding]:
    """``ntlm-info-disclosure`` when the CHALLENGE named anything: medium when read in clear, low after TLS."""
    if info is None or info.error is not None:
        return []
    names = info.names
    if not names and not info.product_version:
        return []
    where = "after TLS" if info.over_tls else "in clear, before STARTTLS"
    said = [f"{_FIELD_WORDS[field]} {value!r}" for field, value in names.items()]
    if info.product_version:
        said.append(f"Windows version {info.product_version}" + _release_words(info.product_version, today))
    detail = (
        f"Asked for NTLM with a NEGOTIATE that carries no credential, the server answered {where} with a CHALLENGE "
        "that names "
        + "; ".join(said)
        + ". Anyone who connects learns the internal domain and host names"
        + (" without even TLS in between." if not info.over_tls else ".")
    )
    return [
        Finding(
            "ntlm-info-disclosure",
            "low" if info.over_tls else "medium",
            "NTLM challenge discloses internal names" + (" in clear" if not info.over_tls else ""),
            detail,
            _disable_ntlm(protocol).for_software(software) + _ACCEPT,
        )
    ]


def _release_words(version: str, today: dt.date) -> str:
    release = windows_release(version)
    if release is None:
        return ""
    if release.support_ends < today:
        return f" ({release.name}, out of Microsoft's support since {release.support_ends.isoformat()})"
    return f" ({release.name})"
