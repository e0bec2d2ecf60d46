"""'Advertised refusal, actual acceptance' only where the offer in clear really claims that passwords are refused."""

from __future__ import annotations

import pytest

from scanner.model import PlaintextLogin
from scanner.verdicts.findings import LoginFacts, login_findings
from scanner.verdicts.plaintext import Advertised

ACCEPTED = PlaintextLogin("accepted", ('LOGIN in clear: NO "[AUTHENTICATIONFAILED] Authentication failed."',))


def ids(protocol: str, caps: tuple[str, ...]) -> set[str]:
    facts = LoginFacts(
        protocol=protocol,
        transport="starttls",
        software=None,  # type: ignore[arg-type]
        advertised=Advertised(protocol, caps),  # type: ignore[arg-type]
        starttls="ok",
        starttls_advertised=True,
        starttls_error=None,
        preauth=False,
        plaintext_login=ACCEPTED,
    )
    return {finding.id for finding in login_findings(facts)}


@pytest.mark.parametrize(
    ("protocol", "caps", "claims"),
    [
        # IMAP: LOGIN is usable unless LOGINDISABLED; no AUTH=PLAIN is not a promise to refuse
        ("imap", ("IMAP4rev1", "STARTTLS"), False),
        ("imap", ("IMAP4rev1", "STARTTLS", "AUTH=PLAIN"), False),
        ("imap", ("IMAP4rev1", "STARTTLS", "LOGINDISABLED"), True),
        # POP3: USER and SASL PLAIN are hidden by servers that refuse them in clear (Dovecot)
        ("pop3", ("TOP", "UIDL", "STLS"), True),
        ("pop3", ("TOP", "UIDL", "STLS", "USER"), False),
        ("pop3", ("TOP", "STLS", "SASL PLAIN"), False),
    ],
)
def test_advertised_vs_actual_only_for_a_real_claim(protocol, caps, claims):
    found = ids(protocol, caps)
    assert "plaintext-login-accepted" in found
    assert ("advertised-vs-actual" in found) is claims
