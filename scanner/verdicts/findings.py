"""Findings about login and STARTTLS: ids, severities, titles and remediation per server family.

Pure rules over what the probe saw (``LoginFacts``). Certificate and TLS findings live in
``scanner.verdicts.certificates``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from scanner.model import Finding, PlaintextLogin, Protocol, Severity, StartTls, Transport
from scanner.verdicts.exchange_login_type import exchange_login_type
from scanner.verdicts.plaintext import Advertised
from scanner.verdicts.software import DOVECOT, EXCHANGE


@dataclass(frozen=True)
class Remedy:
    exchange: str
    dovecot: str
    generic: str

    def for_software(self, software: str | None) -> str:
        if software == EXCHANGE:
            return self.exchange
        if software == DOVECOT:
            return self.dovecot
        return f"{self.generic} Exchange: {self.exchange} Dovecot: {self.dovecot}"


_SECURE_LOGIN = Remedy(
    exchange=(
        "Set-ImapSettings -LoginType SecureLogin and Set-PopSettings -LoginType SecureLogin, then restart the "
        "services (Restart-Service MSExchangeIMAP4, MSExchangeIMAP4BE, MSExchangePOP3, MSExchangePOP3BE). "
        "Find the clients still logging in in clear first (mailprobe logs on the protocol logs)."
    ),
    dovecot=(
        "Set disable_plaintext_auth = yes (Dovecot 2.4: auth_allow_cleartext = no), or ssl = required, and "
        "reload (doveadm reload). Check that the scanner's address is not in login_trusted_networks."
    ),
    generic="Refuse every password login until TLS is active (RFC 2595 2.3, RFC 9051 11.1).",
)

_ENABLE_STARTTLS = Remedy(
    exchange=(
        "Bind a certificate to the services: Enable-ExchangeCertificate -Thumbprint <thumbprint> -Services IMAP,POP, "
        "then restart the IMAP4/POP3 services; Exchange advertises STARTTLS/STLS only when a certificate is bound."
    ),
    dovecot="Set ssl = yes (or required) with ssl_cert = </path/cert.pem and ssl_key = </path/key.pem, then reload.",
    generic="Offer STARTTLS/STLS on the cleartext port with a valid certificate, or close the port and use 993/995.",
)

_FIX_STARTTLS = Remedy(
    exchange=(
        "Check the certificate bound to IMAP/POP (Get-ExchangeCertificate; Enable-ExchangeCertificate -Services "
        "IMAP,POP) and Set-ImapSettings/Set-PopSettings -X509CertificateName, then restart the IMAP4/POP3 services."
    ),
    dovecot="Check ssl_cert/ssl_key (readable, matching key) and ssl_min_protocol; see the Dovecot log for the error.",
    generic="Make the advertised STARTTLS/STLS work, or stop advertising it and close the cleartext port.",
)

_PREAUTH = Remedy(
    exchange="Exchange does not send PREAUTH; a device in front of the server (proxy, gateway) is answering.",
    dovecot="Remove login_trusted_networks/pre-authentication for untrusted clients; never PREAUTH in clear.",
    generic="Never send PREAUTH on an unprotected connection (RFC 9051 7.1.4).",
)

_STOP_ADVERTISING = Remedy(
    exchange=(
        "Set-ImapSettings/Set-PopSettings -LoginType SecureLogin, then restart the services: Exchange then "
        "advertises LOGINDISABLED and no plaintext mechanism before TLS."
    ),
    dovecot="disable_plaintext_auth = yes (2.4: auth_allow_cleartext = no) hides plaintext mechanisms before TLS.",
    generic="Do not offer AUTH=PLAIN/LOGIN, SASL PLAIN/LOGIN or USER before TLS; advertise LOGINDISABLED (IMAP).",
)


@dataclass(frozen=True)
class LoginFacts:
    """What the probe saw that these rules judge."""

    protocol: Protocol
    transport: Transport
    software: str | None
    advertised: Advertised  # before TLS (STARTTLS ports)
    starttls: StartTls
    starttls_advertised: bool
    starttls_error: str | None
    preauth: bool
    plaintext_login: PlaintextLogin
    injected_after_starttls: bytes = b""


def login_findings(facts: LoginFacts) -> list[Finding]:
    found: list[Finding] = []

    def add(id_: str, severity: Severity, title: str, detail: str, remedy: Remedy) -> None:
        found.append(Finding(id_, severity, title, detail, remedy.for_software(facts.software)))

    starttls_word = "STARTTLS" if facts.protocol == "imap" else "STLS"
    verdict = facts.plaintext_login.verdict
    if verdict == "accepted":
        add(
            "plaintext-login-accepted",
            "critical",
            "Plaintext login accepted",
            "A password sent in clear is checked by this server: anyone on the path can read it. "
            + "; ".join(_deciding_lines(facts.plaintext_login.evidence)),
            _SECURE_LOGIN,
        )
    if facts.preauth and facts.transport == "starttls":
        add(
            "preauth-in-clear",
            "high",
            "PREAUTH greeting in clear",
            "The server greets with PREAUTH on a cleartext port: the session is authenticated and STARTTLS is no "
            "longer possible.",
            _PREAUTH,
        )
    if facts.transport != "starttls" or facts.preauth:
        return found

    if facts.starttls == "not_offered":
        add(
            "starttls-missing",
            "high",
            f"No {starttls_word} on a cleartext port",
            f"The server does not advertise {starttls_word} and refused it when tried"
            + (f" ({facts.starttls_error})" if facts.starttls_error else "")
            + ": every session on this port, logins included, is in clear.",
            _ENABLE_STARTTLS,
        )
    elif facts.starttls == "failed":
        add(
            "starttls-failed",
            "high",
            f"{starttls_word} offered but the upgrade fails",
            f"{starttls_word} is advertised but the upgrade did not complete: {facts.starttls_error or 'unknown'}. "
            "Clients that insist on TLS cannot connect; others may fall back to clear.",
            _FIX_STARTTLS,
        )
    elif facts.starttls == "ok" and not facts.starttls_advertised:
        add(
            "starttls-not-advertised",
            "medium",
            f"{starttls_word} works but is not advertised",
            f"The upgrade works when tried, but the capabilities do not list {starttls_word}: clients that follow "
            "the capabilities stay in clear.",
            _ENABLE_STARTTLS,
        )
    if facts.injected_after_starttls:
        add(
            "starttls-plaintext-after-ok",
            "medium",
            f"Cleartext bytes after the {starttls_word} answer",
            f"The server sent {len(facts.injected_after_starttls)} bytes after its OK and before the TLS "
            f"handshake ({facts.injected_after_starttls[:40]!r}); mailprobe discarded them. A client that keeps them "
            "can be fed forged responses (response injection, RFC 9051 6.2.1).",
            _FIX_STARTTLS,
        )

    adv = facts.advertised
    if facts.protocol == "imap" and adv.capabilities and not adv.logindisabled:
        add(
            "logindisabled-missing",
            "medium",
            "LOGINDISABLED not advertised in clear",
            "Before TLS the IMAP capabilities lack LOGINDISABLED, so clients are invited to send LOGIN in clear.",
            _STOP_ADVERTISING,
        )
    if adv.plaintext_mechanisms:
        add(
            "plaintext-auth-advertised",
            "medium",
            "Plaintext password mechanisms advertised in clear",
            "Offered before TLS: " + ", ".join(adv.plaintext_mechanisms) + ".",
            _STOP_ADVERTISING,
        )
    if facts.software == EXCHANGE:
        _login_type_rule(facts, add)
    if verdict == "accepted" and _claims_refusal(adv):
        claim = "LOGINDISABLED" if adv.logindisabled else "no plaintext mechanism"
        add(
            "advertised-vs-actual",
            "high",
            "Advertised refusal, actual acceptance",
            f"The server advertises {claim} in clear, yet it accepted and checked a password sent in clear. "
            "Configuration and wire disagree: trust the wire.",
            _SECURE_LOGIN,
        )
    return found


def _login_type_rule(facts: LoginFacts, add: Callable[[str, Severity, str, str, Remedy], None]) -> None:
    reading = exchange_login_type(facts.advertised, facts.plaintext_login)
    if reading is None:
        return
    cmdlet = "Get-ImapSettings" if facts.protocol == "imap" else "Get-PopSettings"
    found = f"LoginType {reading.login_type}" if reading.login_type else "no LoginType fits"
    add(
        "exchange-login-type",
        "info",
        f"Exchange {facts.protocol.upper()} LoginType from the wire: {reading.login_type or 'none fits'}",
        f"What this port does matches {found}: {'; '.join(reading.evidence)}. Compare with {cmdlet} | Select "
        "LoginType on the server (SecureLogin, the default, takes no password before TLS; PlainTextLogin takes "
        "passwords in clear).",
        _SECURE_LOGIN,
    )


def _deciding_lines(evidence: tuple[str, ...]) -> list[str]:
    """The answers in clear and the reasoning (the evidence ends with one reason per login tried in clear)."""
    in_clear = [line for line in evidence if " in clear: " in line]
    reasons = list(evidence[-len(in_clear) :]) if in_clear else list(evidence[-1:])
    return in_clear + [r for r in reasons if r not in in_clear]


def _claims_refusal(adv: Advertised) -> bool:
    """Whether what was offered in clear says a password will not be taken there.

    IMAP's LOGIN command needs no advertisement: it is available unless LOGINDISABLED says otherwise (RFC 3501
    6.2.3), so an IMAP list without AUTH=PLAIN claims nothing. POP3 without USER or a plaintext SASL mechanism, and
    SMTP without AUTH PLAIN/LOGIN, do say it (Dovecot and Postfix hide them when they refuse)."""
    if adv.logindisabled:
        return True
    if adv.protocol == "imap":
        return False
    return bool(adv.capabilities) and not adv.plaintext_mechanisms
