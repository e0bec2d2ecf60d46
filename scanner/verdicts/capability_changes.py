"""What STARTTLS changed in the capabilities, and the changes that matter.

Servers commonly offer more after TLS (AUTH=PLAIN, USER, AUTH LOGIN) and drop STARTTLS and LOGINDISABLED: that is
the upgrade working as meant, shown in the row but never flagged. What is flagged is a server that offers password
logins in clear and takes them away once TLS is up: a client that follows the capabilities can only log in with
its password in clear.

SASL lists are compared per mechanism (SMTP ``AUTH GSSAPI NTLM`` -> ``AUTH GSSAPI``, ``AUTH NTLM``; POP3 ``SASL
...`` likewise), so ``AUTH GSSAPI NTLM`` -> ``AUTH GSSAPI NTLM LOGIN`` reads as ``+AUTH LOGIN``, not as one line
removed and another added. Names are compared case-insensitively and shown in the server's spelling.
"""

from __future__ import annotations

from scanner.model import Finding, Protocol
from scanner.verdicts.findings import Remedy
from scanner.verdicts.plaintext import Advertised


def _atoms(protocol: Protocol, capabilities: tuple[str, ...]) -> dict[str, str]:
    """Upper-case key -> the capability as shown, SASL lists split into one entry per mechanism."""
    atoms: dict[str, str] = {}
    for cap in capabilities:
        words = cap.split()
        if not words:
            continue
        head = words[0].upper()
        if protocol == "smtp" and head.startswith("AUTH="):  # the old "AUTH=LOGIN PLAIN" spelling
            words = ["AUTH", words[0][5:], *words[1:]]
            head = "AUTH"
        if (protocol == "smtp" and head == "AUTH") or (protocol == "pop3" and head == "SASL"):
            for mechanism in words[1:]:
                atoms.setdefault(f"{head} {mechanism.upper()}", f"{words[0]} {mechanism}")
        else:
            atoms.setdefault(" ".join(words).upper(), cap)
    return atoms


def capability_changes(
    protocol: Protocol, before: tuple[str, ...], after: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(added after TLS, removed after TLS); both empty unless both lists were read."""
    if not before or not after:
        return (), ()
    old, new = _atoms(protocol, before), _atoms(protocol, after)
    added = tuple(shown for key, shown in new.items() if key not in old)
    removed = tuple(shown for key, shown in old.items() if key not in new)
    return added, removed


def password_logins(protocol: Protocol, capabilities: tuple[str, ...]) -> tuple[str, ...]:
    """The password logins a client following ``capabilities`` may use: the plaintext SASL mechanisms and USER,
    and IMAP's LOGIN command, which needs no advertisement unless LOGINDISABLED takes it away (RFC 9051 6.2.3)."""
    advertised = Advertised(protocol, capabilities)
    found = advertised.plaintext_mechanisms
    if protocol == "imap" and capabilities and not advertised.logindisabled:
        found = ("LOGIN", *found)
    return found


_OFFER_AFTER_TLS = Remedy(
    exchange=(
        "Set-ImapSettings/Set-PopSettings -LoginType SecureLogin (Set-ReceiveConnector -AuthMechanism with "
        "BasicAuthRequireTLS for submission), then restart the services: Exchange then offers basic "
        "authentication only after TLS. If the server is right, look for a device in front of it that "
        "answers STARTTLS (a TLS-terminating proxy with its own capability list)."
    ),
    dovecot=(
        "disable_plaintext_auth = yes (2.4: auth_allow_cleartext = no) with ssl = yes offers plaintext "
        "mechanisms only after TLS; check for a proxy in front of Dovecot that answers STARTTLS."
    ),
    generic="Offer password logins after TLS, never only before it (RFC 8314 4.1, RFC 9051 11.1).",
)


def capability_findings(
    protocol: Protocol, software: str | None, before: tuple[str, ...], after: tuple[str, ...]
) -> list[Finding]:
    """The capability changes across STARTTLS that matter (both lists read)."""
    if not before or not after:
        return []
    in_clear = password_logins(protocol, before)
    over_tls = password_logins(protocol, after)
    if not in_clear or over_tls:
        return []
    return [
        Finding(
            "password-auth-only-in-clear",
            "high",
            "Password logins offered in clear but not after TLS",
            "Before STARTTLS the server offers " + ", ".join(in_clear) + "; after it, no password login at all. "
            "A client that follows the capabilities logs in with its password in clear, or not at all.",
            _OFFER_AFTER_TLS.for_software(software),
        )
    ]
