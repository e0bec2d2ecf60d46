"""Host rules for SMTP submission (run by ``scanner.verdicts.host``): the client submission ports judged against the
mailbox ports of the same host.

A client that reads mail over IMAP/POP3 sends it through 587/465; a certificate there that differs from the one
on 993/995/143/110, or that is wrongly named where the mailbox ports are right, is what users meet as a warning on
every message sent (Exchange: the Client Frontend connector keeps its own certificate).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from scanner.model import CertificateInfo, EndpointResult, Finding
from scanner.verdicts.submission import SubmissionRemedy

SAME_CERTIFICATE = SubmissionRemedy(
    exchange=(
        "Enable-ExchangeCertificate -Thumbprint <thumbprint of the IMAP/POP certificate> -Services SMTP, then "
        'Set-ReceiveConnector "Client Frontend <server>" -TlsCertificateName "<I>issuer<S>subject" with that '
        "certificate's issuer and subject (Get-ExchangeCertificate | fl Issuer,Subject,Services); no restart needed."
    ),
    postfix=(
        "Point smtpd_tls_chain_files (or smtpd_tls_cert_file/smtpd_tls_key_file) of the submission and submissions "
        "services at the certificate the IMAP/POP server uses (the one with the name clients configure), then "
        "postfix reload."
    ),
    dovecot=(
        "Give the submission service the same ssl_cert/ssl_key as imap and pop3 (no protocol submission { } "
        "override, doveconf -n), then doveadm reload."
    ),
    generic="Present on 587/465 the certificate, with the name clients use, that the IMAP/POP3 ports present.",
)

OFFER_465 = SubmissionRemedy(
    exchange=(
        "Exchange's receive connectors speak STARTTLS only, not implicit TLS: keep 587 with "
        'Set-ReceiveConnector "Client Frontend <server>" -RequireTLS $true, or put a TLS-terminating proxy on 465.'
    ),
    postfix=(
        "Enable the submissions service in master.cf: submissions inet n - y - - smtpd -o "
        "syslog_name=postfix/submissions -o smtpd_tls_wrappermode=yes -o smtpd_sasl_auth_enable=yes; postfix reload."
    ),
    dovecot="service submission-login { inet_listener submissions { port = 465 ssl = yes } }, then doveadm reload.",
    generic="Offer submission over implicit TLS on 465 (RFC 8314 3.3 prefers it to STARTTLS on 587).",
)

_MAILBOX = ("imap", "pop3")


Certified = tuple[EndpointResult, CertificateInfo]


def _certified(rows: Sequence[EndpointResult], protocols: tuple[str, ...]) -> list[Certified]:
    found: list[Certified] = []
    for row in rows:
        if row.protocol in protocols and row.state == "open" and row.tls is not None and row.tls.certificate:
            found.append((row, row.tls.certificate))
    return sorted(found, key=lambda pair: pair[0].port)


def submission_certificate_mismatch(rows: Sequence[EndpointResult]) -> Iterator[tuple[EndpointResult, Finding]]:
    """submission-cert-mismatch (medium) on 587/465 when its certificate differs from every certificate the mailbox
    ports of the host present, or is wrongly named where a mailbox port's is right."""
    mailbox = _certified(rows, _MAILBOX)
    if not mailbox:
        return
    fingerprints = {cert.sha256 for _, cert in mailbox}
    well_named = [row.port for row, cert in mailbox if cert.name_match]
    for row, cert in _certified(rows, ("smtp",)):
        reasons: list[str] = []
        if cert.sha256 not in fingerprints:
            shown = ", ".join(f"{r.port} '{c.subject}'" for r, c in mailbox)
            reasons.append(f"a different certificate ('{cert.subject}', sha256 {cert.sha256[:16]}...) than {shown}")
        if cert.name_match is False and well_named:
            checked = ", ".join(cert.names_checked) or "the name scanned"
            reasons.append(f"a certificate that does not match {checked}, while port {well_named[0]}'s does")
        if reasons:
            yield (
                row,
                Finding(
                    "submission-cert-mismatch",
                    "medium",
                    "Submission port presents another certificate than IMAP/POP3",
                    f"Port {row.port} presents " + " and ".join(reasons) + ". Mail clients configured for the mailbox "
                    "name warn or refuse when they send.",
                    SAME_CERTIFICATE.for_software(row.software),
                ),
            )


def submission_465_missing(rows: Sequence[EndpointResult]) -> Iterator[tuple[EndpointResult, Finding]]:
    """submission-465-missing (low) on an open 587 when implicit-TLS submission was probed on the host and is not
    open. Not probed: nothing is said."""
    implicit = [r for r in rows if r.protocol == "smtp" and r.transport == "implicit"]
    if not implicit or any(r.state in ("open", "error") for r in implicit):
        return
    states = ", ".join(f"{r.port} {r.state}" for r in implicit)
    for row in rows:
        if row.protocol == "smtp" and row.transport == "starttls" and row.state == "open":
            yield (
                row,
                Finding(
                    "submission-465-missing",
                    "low",
                    "No submission over implicit TLS",
                    f"Submission answers on {row.port} (STARTTLS) but not with implicit TLS ({states}). "
                    "RFC 8314 prefers 465: no cleartext phase where AUTH could be offered, stripped or injected.",
                    OFFER_465.for_software(row.software),
                ),
            )
