"""Guess the server software from its greeting and capabilities, to pick remediation text.

A guess only: banners can be changed. Unknown software is None, never a made-up name.
"""

from __future__ import annotations

from collections.abc import Sequence

# (substring of the greeting, lower case) -> product name
_GREETING_MARKS: tuple[tuple[str, str], ...] = (
    ("microsoft exchange", "Microsoft Exchange"),
    ("microsoft esmtp mail service", "Microsoft Exchange"),  # the SMTP receive connectors' banner
    ("esmtp postfix", "Postfix"),
    ("dovecot", "Dovecot"),
    ("cyrus", "Cyrus IMAP"),
    ("courier", "Courier"),
    ("hmailserver", "hMailServer"),
    ("zimbra", "Zimbra"),
    ("uw imap", "UW IMAP"),
    ("gimap", "Gmail"),
)

EXCHANGE = "Microsoft Exchange"
DOVECOT = "Dovecot"
POSTFIX = "Postfix"


def detect_software(greeting: str | None, capabilities: Sequence[str] = ()) -> str | None:
    if not greeting and not capabilities:
        return None  # a port that never answered: most rows of a range
    text = (greeting or "").lower()
    for mark, product in _GREETING_MARKS:
        if mark in text:
            return product
    if any(cap.upper().startswith("X-DOVECOT") for cap in capabilities):
        return DOVECOT
    return None
