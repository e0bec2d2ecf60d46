"""One dialect per protocol; the probe asks ``dialect_for`` instead of switching on the protocol."""

from __future__ import annotations

import functools
from typing import Any

from scanner.model import Protocol
from scanner.probe.dialects.base import Ask, AskSasl, Dialect, DummyCredentials, LoginAnswer, NtlmAnswer


@functools.cache
def dialect_for(protocol: Protocol) -> Dialect[Any]:
    """The one dialect of ``protocol``. Its module and protocol machine are imported with the first endpoint that
    speaks it, so a scan of IMAP alone never loads the SMTP ones (nor start-up the three)."""
    if protocol == "imap":
        from scanner.probe.dialects.imap import ImapDialect

        return ImapDialect()
    if protocol == "pop3":
        from scanner.probe.dialects.pop3 import Pop3Dialect

        return Pop3Dialect()
    if protocol == "smtp":
        from scanner.probe.dialects.smtp import SmtpDialect

        return SmtpDialect()
    raise KeyError(protocol)


__all__ = ["Ask", "AskSasl", "Dialect", "DummyCredentials", "LoginAnswer", "NtlmAnswer", "dialect_for"]
