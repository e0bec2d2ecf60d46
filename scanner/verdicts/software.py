"""Guess the server software from its greeting and capabilities, to pick remediation text.

A guess only: banners can be changed. Unknown software is None, never a made-up name.
"""

from __future__ import annotations

import base64
import binascii
import re
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

_EXCHANGE_BANNER_SUFFIX = re.compile(r"\[([A-Za-z0-9+/=]{8,})\]\s*$")


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


def exchange_banner_hostname(greeting: str | None) -> str | None:
    """Exchange's AppendServerNameInBanner adds [base64(UTF-16LE "Server.Domain")]: decode it, since it leaks."""
    if not greeting:
        return None
    match = _EXCHANGE_BANNER_SUFFIX.search(greeting)
    if not match:
        return None
    try:
        raw = base64.b64decode(match.group(1), validate=True)
        name = raw.decode("utf-16-le")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return name if name.isprintable() and "." in name else None
