"""The fixes the certificate and TLS findings point to, per server family (Exchange, Dovecot, generic): one
``Remedy`` per kind of fix, shared by the endpoint rules (``certificates.py``) and the host rules
(``certificate_host.py``)."""

from __future__ import annotations

from scanner.verdicts.findings import Remedy

RESTART_EXCHANGE = (
    "restart the IMAP4/POP3 services (Restart-Service MSExchangeIMAP4, MSExchangeIMAP4BE, MSExchangePOP3, "
    "MSExchangePOP3BE)"
)
BIND_EXCHANGE = (
    "bind it with Enable-ExchangeCertificate -Thumbprint <thumbprint> -Services IMAP,POP, set "
    "Set-ImapSettings -X509CertificateName <name clients use> and Set-PopSettings -X509CertificateName <same>, then "
    + RESTART_EXCHANGE
)

NEW_CERT = Remedy(
    exchange=(
        "Request a certificate from a CA the clients trust (a public CA, or the organisation's CA deployed to every "
        "client) with SANs for every name clients use: New-ExchangeCertificate -GenerateRequest, then "
        f"Import-ExchangeCertificate; {BIND_EXCHANGE}."
    ),
    dovecot=(
        "Set ssl_cert = </path/fullchain.pem (leaf then intermediates) and ssl_key = </path/privkey.pem to a "
        "certificate from a CA the clients trust whose SANs cover the names clients use; then doveadm reload."
    ),
    generic="Serve a certificate from a CA the clients trust, with SANs for every name clients use.",
)

NAMES = Remedy(
    exchange=(
        "Get a certificate whose SANs include every name clients use (New-ExchangeCertificate -GenerateRequest "
        "-DomainName <names>, then Import-ExchangeCertificate); "
        f"{BIND_EXCHANGE}. Set-ImapSettings/Set-PopSettings -X509CertificateName picks which bound certificate "
        "is presented."
    ),
    dovecot=(
        "Use a certificate whose SANs include the names clients use (ssl_cert/ssl_key); for several names, "
        "one certificate with all SANs or per-name blocks local_name mail.example.com { ssl_cert = ... }; "
        "doveadm reload."
    ),
    generic="Use a certificate whose subjectAltName covers the names clients connect to, or point clients at it.",
)

CHAIN = Remedy(
    exchange=(
        "Import the issuing CA's intermediate certificate into the computer's Intermediate Certification "
        "Authorities store (Exchange sends the chain Windows builds), check with Get-ExchangeCertificate | fl "
        f"Status, or re-import with Import-ExchangeCertificate; then {RESTART_EXCHANGE}. For an internal CA, "
        "deploy its root to the clients (and use --ca-file to scan)."
    ),
    dovecot=(
        "Put the leaf followed by the intermediates in the file named by ssl_cert (a full chain, not the leaf "
        "alone), keep ssl_key matching; doveadm reload. For an internal CA, deploy its root to the clients."
    ),
    generic="Send the intermediate certificates with the leaf; make sure the root is trusted by the clients.",
)

RENEW = Remedy(
    exchange=(
        "Renew: New-ExchangeCertificate -GenerateRequest (or Get-ExchangeCertificate -Thumbprint <t> | "
        "New-ExchangeCertificate -GenerateRequest) then Import-ExchangeCertificate; "
        f"{BIND_EXCHANGE}; remove the old certificate."
    ),
    dovecot="Renew the certificate (automate it, e.g. ACME), update the ssl_cert/ssl_key files; doveadm reload.",
    generic="Renew the certificate before it expires and automate renewal.",
)

CLOCK = Remedy(
    exchange=(
        "Check the server's clock and the certificate's start date; bind a certificate valid now: " + BIND_EXCHANGE
    ),
    dovecot="Check the server's clock and the certificate's start date; point ssl_cert/ssl_key at a valid one.",
    generic="A certificate is not valid before its start date: check clocks, or use a certificate valid now.",
)

STRONGER = Remedy(
    exchange=(
        "Issue a new certificate with an RSA 2048+ bit key (New-ExchangeCertificate -KeySize 2048 or more) signed "
        f"with SHA-256, Import-ExchangeCertificate, {BIND_EXCHANGE}."
    ),
    dovecot="Replace the certificate (RSA 2048+ or ECDSA P-256+, SHA-256 signature) in ssl_cert/ssl_key; reload.",
    generic="Use RSA keys of 2048 bits or more (or ECDSA P-256+) and SHA-256 or better signatures.",
)

LEGACY = Remedy(
    exchange=(
        "Disable TLS 1.0/1.1 (and SSL 3.0) in SCHANNEL: HKLM\\SYSTEM\\CurrentControlSet\\Control\\"
        "SecurityProviders\\SCHANNEL\\Protocols\\TLS 1.0\\Server and ...\\TLS 1.1\\Server, Enabled=0 and "
        "DisabledByDefault=1 (Microsoft's Exchange TLS guidance), then reboot; check old clients first."
    ),
    dovecot="Set ssl_min_protocol = TLSv1.2 (the default since Dovecot 2.3.15) and doveadm reload.",
    generic="Accept TLS 1.2 and 1.3 only.",
)

PROFILE = Remedy(
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

SAME_CERT = Remedy(
    exchange=(
        "Exchange presents one certificate for IMAP and POP on every port: check Get-ExchangeCertificate | "
        "fl Thumbprint,Services, Enable-ExchangeCertificate -Services IMAP,POP on the right one, and "
        f"Set-ImapSettings/Set-PopSettings -X509CertificateName; {RESTART_EXCHANGE}. Different certificates "
        "usually mean a load balancer or another server answers on some ports."
    ),
    dovecot=(
        "Check ssl_cert/ssl_key in protocol and local/remote blocks (doveconf -n): one certificate for all "
        "listeners avoids surprises; a proxy in front of some ports may present its own."
    ),
    generic="Present the same certificate on every mail port of a host, or make sure each one is right.",
)

IMPLICIT = Remedy(
    exchange=(
        "Offer IMAP on 993 and POP on 995: Set-ImapSettings -SSLBindings 0.0.0.0:993,[::]:993 and "
        "Set-PopSettings -SSLBindings 0.0.0.0:995,[::]:995 with a bound certificate, open the firewall, "
        f"then {RESTART_EXCHANGE}."
    ),
    dovecot="Enable the imaps/pop3s listeners (service imap-login { inet_listener imaps { port = 993 ssl = yes } }).",
    generic="Offer implicit TLS on 993 (IMAP) and 995 (POP3); RFC 8314 prefers it to STARTTLS.",
)

EXCHANGE_DEFAULT = Remedy(
    exchange=(
        "Exchange binds its self-signed certificate to IMAP and POP at setup. Replace it for IMAP/POP: "
        f"New-ExchangeCertificate -GenerateRequest, Import-ExchangeCertificate, {BIND_EXCHANGE}. Leave the "
        "'Microsoft Exchange Server Auth Certificate' for OAuth/server auth alone, but never bind it to IMAP/POP."
    ),
    dovecot="Not Exchange's doing here: check what answers on this port, then set ssl_cert/ssl_key.",
    generic="Replace Exchange's self-signed certificate with one from a CA the clients trust.",
)
