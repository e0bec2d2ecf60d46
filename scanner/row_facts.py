"""The NTLM names and the capability changes of a row as words, for the detail screen and every report.

The values are the server's text, unescaped: each consumer makes them safe at its own edge (scanner.untrusted).
"""

from __future__ import annotations

from scanner.model import Capabilities, NtlmInfo

NTLM_LABELS = {
    "target_name": "target name",
    "netbios_computer": "NetBIOS computer",
    "netbios_domain": "NetBIOS domain",
    "dns_computer": "DNS computer",
    "dns_domain": "DNS domain",
    "dns_tree": "DNS forest",
}


def capability_changes_text(capabilities: Capabilities) -> str | None:
    """ "+AUTH=PLAIN -LOGINDISABLED -STARTTLS": what TLS added and removed; None when nothing changed (or one of
    the two lists was not read)."""
    words = [f"+{c}" for c in capabilities.added_after_tls] + [f"-{c}" for c in capabilities.removed_after_tls]
    return " ".join(words) or None


def ntlm_where(info: NtlmInfo) -> str:
    return "after TLS" if info.over_tls else "in clear"


def ntlm_facts(info: NtlmInfo) -> list[tuple[str, str]]:
    """(label, value) lines: where it was read, each name, the Windows version, the clock, what went wrong."""
    facts = [("read", ntlm_where(info))]
    if info.error:
        facts.append(("not read", info.error))
    facts += [(NTLM_LABELS[name], value) for name, value in info.names.items()]
    if info.product_version:
        facts.append(("Windows version", info.product_version))
    if info.server_time:
        facts.append(("server time", info.server_time))
    facts += [("problem", problem) for problem in info.problems]
    return facts


def ntlm_summary(info: NtlmInfo) -> str:
    """One line: "EX01.corp.example.org, domain corp.example.org, Windows 10.0.17763 (in clear)"."""
    if info.error:
        return f"not read ({ntlm_where(info)}): {info.error}"
    names = info.names
    host = names.get("dns_computer") or names.get("netbios_computer")
    domain = names.get("dns_domain") or names.get("netbios_domain") or names.get("target_name")
    parts = [p for p in (host, f"domain {domain}" if domain else None) if p]
    if info.product_version:
        parts.append(f"Windows {info.product_version}")
    return (", ".join(parts) or "no names") + f" ({ntlm_where(info)})"
