"""One dialect per protocol; the probe asks ``dialect_for`` instead of switching on the protocol."""

from __future__ import annotations

import functools
from typing import Any

from scanner.engine.dialects.base import Ask, Dialect, DummyCredentials, LoginAnswer
from scanner.model import Protocol


@functools.cache
def dialect_for(protocol: Protocol) -> Dialect[Any]:
    """The one dialect of ``protocol``. Its module and protocol machine are imported with the first endpoint that
    speaks it, so a scan of IMAP alone never loads the SMTP ones (nor start-up the three)."""
    if protocol == "imap":
        from scanner.engine.dialects.imap import ImapDialect

        return ImapDialect()
    if protocol == "pop3":
        from scanner.engine.dialects.pop3 import Pop3Dialect

        return Pop3Dialect()
    if protocol == "smtp":
        from scanner.engine.dialects.smtp import SmtpDialect

        return SmtpDialect()
    raise KeyError(protocol)


__all__ = ["Ask", "Dialect", "DummyCredentials", "LoginAnswer", "dialect_for"]
