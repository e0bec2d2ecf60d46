"""Capabilities across STARTTLS: what changed, shown per mechanism, and the one change that is flagged."""

from __future__ import annotations

import pytest

from scanner.verdicts.capability_changes import capability_changes, capability_findings, password_logins
from scanner.verdicts.software import DOVECOT, EXCHANGE

# The capability lists of the bundled Exchange and Dovecot profiles and of a real Dovecot 2.3.
EXCHANGE_IMAP = (
    ("IMAP4", "IMAP4rev1", "LOGINDISABLED", "STARTTLS", "AUTH=NTLM", "AUTH=GSSAPI", "UIDPLUS", "IDLE"),
    ("IMAP4", "IMAP4rev1", "AUTH=PLAIN", "AUTH=NTLM", "AUTH=GSSAPI", "UIDPLUS", "IDLE"),
)
EXCHANGE_SMTP = (
    ("SIZE 37748736", "PIPELINING", "STARTTLS", "AUTH GSSAPI NTLM", "8BITMIME"),
    ("SIZE 37748736", "PIPELINING", "AUTH GSSAPI NTLM LOGIN", "8BITMIME"),
)
DOVECOT_POP3 = (
    ("TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "STLS"),
    ("TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "USER", "SASL PLAIN LOGIN"),
)


@pytest.mark.parametrize(
    ("protocol", "lists", "added", "removed"),
    [
        ("imap", EXCHANGE_IMAP, ("AUTH=PLAIN",), ("LOGINDISABLED", "STARTTLS")),
        ("smtp", EXCHANGE_SMTP, ("AUTH LOGIN",), ("STARTTLS",)),
        ("pop3", DOVECOT_POP3, ("USER", "SASL PLAIN", "SASL LOGIN"), ("STLS",)),
        ("pop3", (("SASL NTLM GSSAPI", "STLS"), ("sasl ntlm gssapi plain",)), ("sasl plain",), ("STLS",)),
        ("smtp", (("AUTH=LOGIN PLAIN", "SIZE 10"), ("AUTH PLAIN LOGIN", "SIZE 20")), ("SIZE 20",), ("SIZE 10",)),
        ("imap", (("IMAP4rev1", "STARTTLS"), ()), (), ()),  # after TLS not read: nothing is said to have changed
        ("imap", ((), ("IMAP4rev1",)), (), ()),
        ("imap", (("IMAP4rev1", "ID"), ("imap4rev1", "ID")), (), ()),  # case is no change
    ],
)
def test_changes(protocol, lists, added, removed) -> None:
    assert capability_changes(protocol, *lists) == (added, removed)


@pytest.mark.parametrize(
    ("protocol", "capabilities", "logins"),
    [
        ("imap", ("IMAP4rev1", "STARTTLS"), ("LOGIN",)),
        ("imap", ("IMAP4rev1", "LOGINDISABLED", "AUTH=NTLM"), ()),
        ("imap", ("IMAP4rev1", "LOGINDISABLED", "AUTH=PLAIN"), ("AUTH=PLAIN",)),
        ("pop3", ("USER", "SASL PLAIN"), ("USER", "SASL PLAIN")),
        ("smtp", ("AUTH GSSAPI NTLM",), ()),
        ("imap", (), ()),
    ],
)
def test_password_logins(protocol, capabilities, logins) -> None:
    assert password_logins(protocol, capabilities) == logins


@pytest.mark.parametrize(("protocol", "lists"), [("imap", EXCHANGE_IMAP), ("smtp", EXCHANGE_SMTP),
                                                 ("pop3", DOVECOT_POP3)])  # fmt: skip
def test_the_usual_upgrade_is_not_flagged(protocol, lists) -> None:
    assert capability_findings(protocol, EXCHANGE, *lists) == []


@pytest.mark.parametrize(
    ("protocol", "before", "after", "named"),
    [
        ("imap", ("IMAP4rev1", "STARTTLS", "AUTH=PLAIN"), ("IMAP4rev1", "LOGINDISABLED", "AUTH=GSSAPI"),
         "LOGIN, AUTH=PLAIN"),
        ("pop3", ("USER", "STLS"), ("TOP", "SASL GSSAPI"), "USER"),
        ("smtp", ("STARTTLS", "AUTH PLAIN LOGIN"), ("AUTH GSSAPI",), "AUTH PLAIN, AUTH LOGIN"),
    ],
)  # fmt: skip
def test_password_logins_only_in_clear_are_flagged(protocol, before, after, named) -> None:
    (finding,) = capability_findings(protocol, DOVECOT, before, after)
    assert (finding.id, finding.severity) == ("password-auth-only-in-clear", "high")
    assert f"Before STARTTLS the server offers {named}; after it, no password login at all" in finding.detail
    assert finding.remediation.startswith("disable_plaintext_auth = yes")


def test_nothing_is_flagged_when_a_list_is_missing() -> None:
    assert capability_findings("imap", None, ("IMAP4rev1", "STARTTLS"), ()) == []
    assert capability_findings("pop3", None, (), ("USER",)) == []
