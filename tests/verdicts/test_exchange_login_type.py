"""Exchange's LoginType from what a port offers before TLS and how the dummy login fared (protocols.md 2)."""

from __future__ import annotations

import pytest

from scanner.model import PlaintextLogin
from scanner.verdicts.exchange_login_type import exchange_login_type
from scanner.verdicts.plaintext import Advertised

IMAP_SECURE = ("IMAP4", "IMAP4rev1", "LOGINDISABLED", "STARTTLS", "UIDPLUS")
IMAP_PTA = ("IMAP4", "IMAP4rev1", "LOGINDISABLED", "STARTTLS", "AUTH=NTLM", "AUTH=GSSAPI")
IMAP_PTL = ("IMAP4", "IMAP4rev1", "AUTH=PLAIN", "AUTH=NTLM", "AUTH=GSSAPI", "STARTTLS")
POP_SECURE = ("TOP", "UIDL", "STLS")
POP_PTA = ("TOP", "UIDL", "SASL NTLM GSSAPI", "STLS")
POP_PTL = ("TOP", "UIDL", "SASL NTLM GSSAPI PLAIN", "USER", "STLS")


@pytest.mark.parametrize(
    ("protocol", "caps", "verdict", "expected"),
    [
        ("imap", IMAP_SECURE, "refused", "SecureLogin"),
        ("imap", IMAP_PTA, "refused", "PlainTextAuthentication"),
        ("imap", IMAP_PTL, "accepted", "PlainTextLogin"),
        ("pop3", POP_SECURE, "refused", "SecureLogin"),
        ("pop3", POP_PTA, "refused", "PlainTextAuthentication"),
        ("pop3", POP_PTL, "accepted", "PlainTextLogin"),
        ("imap", IMAP_PTL, "inconclusive", "PlainTextLogin"),  # the offer alone, said to be unconfirmed
        ("imap", IMAP_SECURE, "accepted", None),  # offers SecureLogin, takes passwords in clear: nothing fits
        ("pop3", POP_PTL, "refused", None),
    ],
)
def test_login_type(protocol: str, caps: tuple[str, ...], verdict: str, expected: str | None) -> None:
    reading = exchange_login_type(Advertised(protocol, caps), PlaintextLogin(verdict))  # type: ignore[arg-type]
    assert reading is not None
    assert reading.login_type == expected, reading.evidence
    assert reading.evidence[0].startswith("before TLS")
    if verdict == "inconclusive":
        assert "did not confirm" in reading.evidence[-1]
    if expected is None:
        assert "no LoginType fits" in reading.evidence[-1]


def test_nothing_to_read_without_capabilities() -> None:
    assert exchange_login_type(Advertised("imap", ()), PlaintextLogin("refused")) is None
