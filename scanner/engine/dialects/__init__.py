"""One dialect per protocol; the probe asks ``dialect_for`` instead of switching on the protocol."""

from __future__ import annotations

from typing import Any

from scanner.engine.dialects.base import Ask, Dialect, DummyCredentials, LoginAnswer
from scanner.engine.dialects.imap import ImapDialect
from scanner.engine.dialects.pop3 import Pop3Dialect
from scanner.engine.dialects.smtp import SmtpDialect
from scanner.model import Protocol

_DIALECTS: dict[str, Dialect[Any]] = {d.protocol: d for d in (ImapDialect(), Pop3Dialect(), SmtpDialect())}


def dialect_for(protocol: Protocol) -> Dialect[Any]:
    return _DIALECTS[protocol]


__all__ = ["Ask", "Dialect", "DummyCredentials", "LoginAnswer", "dialect_for"]
