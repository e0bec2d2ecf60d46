"""Findings about SMTP submission (587 STARTTLS, 465 implicit TLS) on one endpoint: ids, severities, remediation
for Exchange's Client Frontend connector, Postfix and Dovecot submission.

Pure rules over ``LoginFacts``, the same facts the IMAP/POP3 rules read. Cross-port rules (465 missing where 587
answers, a submission certificate differing from the mailbox ports') live in ``scanner.verdicts.submission_host``.
"""

from __future__ import annotations

from dataclasses import dataclass

from scanner.model import Finding, Severity
from scanner.verdicts.findings import LoginFacts
from scanner.verdicts.software import DOVECOT, EXCHANGE, POSTFIX


@dataclass(frozen=True)
class SubmissionRemedy:
    exchange: str
    postfix: str
    dovecot: str
    generic: str

    def for_software(self, software: str | None) -> str:
        chosen = {EXCHANGE: self.exchange, POSTFIX: self.postfix, DOVECOT: self.dovecot}.get(software or "")
        if chosen is not None:
            return chosen
        return f"{self.generic} Exchange: {self.exchange} Postfix: {self.postfix} Dovecot submission: {self.dovecot}"


AUTH_ONLY_AFTER_TLS = SubmissionRemedy(
    exchange=(
        'Set-ReceiveConnector "Client Frontend <server>" -AuthMechanism Tls,Integrated,BasicAuth,BasicAuthRequireTLS '
        "(the default: BasicAuthRequireTLS refuses basic AUTH before STARTTLS), and -RequireTLS $true to refuse "
        "every session that does not start TLS."
    ),
    postfix=(
        "In main.cf (or as -o options of the submission service in master.cf): smtpd_tls_auth_only = yes, and "
        "smtpd_tls_security_level = encrypt on the submission port; then postfix reload."
    ),
    dovecot=(
        "Set disable_plaintext_auth = yes (Dovecot 2.4: auth_allow_cleartext = no), or ssl = required, for the "
        "submission service and reload (doveadm reload); check login_trusted_networks does not cover clients."
    ),
    generic="Refuse AUTH until TLS is active on the submission port (RFC 4954 4, RFC 8314 3.3).",
)

ENABLE_TLS = SubmissionRemedy(
    exchange=(
        "Enable-ExchangeCertificate -Thumbprint <thumbprint> -Services SMTP, then "
        'Set-ReceiveConnector "Client Frontend <server>" -TlsCertificateName "<I>issuer<S>subject" so the client '
        "connector offers STARTTLS with that certificate."
    ),
    postfix=(
        "Set smtpd_tls_chain_files (or smtpd_tls_cert_file and smtpd_tls_key_file) and "
        "smtpd_tls_security_level = encrypt for the submission service in master.cf, then postfix reload."
    ),
    dovecot="Set ssl = required with ssl_cert = </path/cert.pem and ssl_key = </path/key.pem, then reload.",
    generic="Offer STARTTLS on 587 with a valid certificate, or close it and offer submission over TLS on 465.",
)

FIX_TLS = SubmissionRemedy(
    exchange=(
        "Check the certificate bound to the Client Frontend connector (Get-ExchangeCertificate; "
        'Enable-ExchangeCertificate -Services SMTP; Set-ReceiveConnector "Client Frontend <server>" '
        '-TlsCertificateName "<I>issuer<S>subject").'
    ),
    postfix="Check smtpd_tls_chain_files / smtpd_tls_cert_file and key (readable, matching); see the mail log.",
    dovecot="Check ssl_cert/ssl_key (readable, matching key) and ssl_min_protocol; see the Dovecot log.",
    generic="Make the advertised STARTTLS work, or stop advertising it and close the cleartext port.",
)

SUBMISSION_CERTIFICATE = SubmissionRemedy(
    exchange=(
        "Enable-ExchangeCertificate -Thumbprint <thumbprint> -Services SMTP and "
        'Set-ReceiveConnector "Client Frontend <server>" -TlsCertificateName "<I>issuer<S>subject".'
    ),
    postfix=(
        "smtpd_tls_chain_files (or smtpd_tls_cert_file/smtpd_tls_key_file) of the submission services; postfix reload."
    ),
    dovecot="ssl_cert/ssl_key for the submission service (doveconf -n); doveadm reload.",
    generic="the certificate of the SMTP submission service.",
)


def submission_findings(facts: LoginFacts) -> list[Finding]:
    found: list[Finding] = []

    def add(id_: str, severity: Severity, title: str, detail: str, remedy: SubmissionRemedy) -> None:
        found.append(Finding(id_, severity, title, detail, remedy.for_software(facts.software)))

    if facts.transport != "starttls":
        return found
    login = facts.plaintext_login
    if login.verdict == "accepted":
        deciding = [line for line in login.evidence if " in clear" in line]
        add(
            "submission-auth-accepted-in-clear",
            "critical",
            "SMTP AUTH accepted in clear",
            "The submission port checks a password sent before STARTTLS: every message a client sends can leak "
            "the mailbox password. " + "; ".join(deciding or login.evidence[-1:]),
            AUTH_ONLY_AFTER_TLS,
        )
    if facts.starttls == "not_offered":
        add(
            "submission-starttls-missing",
            "high",
            "No STARTTLS on the submission port",
            "The server does not advertise STARTTLS and refused it when tried"
            + (f" ({facts.starttls_error})" if facts.starttls_error else "")
            + ": logins and messages on this port travel in clear.",
            ENABLE_TLS,
        )
    elif facts.starttls == "failed":
        add(
            "submission-starttls-failed",
            "high",
            "STARTTLS offered but the upgrade fails",
            f"STARTTLS did not complete: {facts.starttls_error or 'unknown'}. Clients that insist on TLS cannot "
            "send; others may fall back to clear.",
            FIX_TLS,
        )
    if facts.injected_after_starttls:
        add(
            "starttls-plaintext-after-ok",
            "medium",
            "Cleartext bytes after the STARTTLS answer",
            f"The server sent {len(facts.injected_after_starttls)} bytes after its 220 and before the TLS handshake "
            f"({facts.injected_after_starttls[:40]!r}); mailprobe discarded them. A client that keeps them can be "
            "fed forged replies (command injection, CVE-2011-0411 and kin).",
            FIX_TLS,
        )
    offered = facts.advertised.plaintext_mechanisms
    if offered:
        add(
            "submission-auth-before-starttls",
            "medium",
            "AUTH offered before STARTTLS",
            "The EHLO answer in clear offers " + ", ".join(offered) + ": clients are invited to send the password "
            "before TLS.",
            AUTH_ONLY_AFTER_TLS,
        )
    return found
