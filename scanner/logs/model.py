"""Events and summaries of the log analysis (frozen results; the aggregator's accumulators live in aggregate.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    """How one login (attempt) is judged."""

    INSECURE = "insecure"  # accepted without TLS: the password crossed the network in clear
    INSECURE_FAILED = "insecure_failed"  # rejected credentials, but sent in clear all the same
    REFUSED = "refused"  # the server refused a cleartext login: this client already breaks
    SECURE = "secure"  # over TLS (implicit TLS port or STARTTLS/STLS first)
    UNVERIFIED = "unverified"  # no TLS, but the server called it secure (own address / trusted network)


@dataclass(frozen=True)
class LoginEvent:
    kind: Kind
    address: str  # client address as the server logged it
    user: str  # "" when the log does not name one
    protocol: str  # "imap", "pop3", ...
    timestamp: str  # ISO 8601 (no zone for syslog lines: local time of the server)
    method: str  # "PLAIN", "LOGIN", "USER/PASS", ...
    source: str  # "file:line"
    line: str  # the deciding log line, as written
    local_address: str = ""
    note: str = ""  # why, when it is not obvious (e.g. "rip == lip: Dovecot treats its own address as secured")
    counted: bool = True  # False: a second line of an attempt already counted, kept only for its user name


@dataclass(frozen=True)
class Evidence:
    kind: str
    source: str
    line: str
    note: str = ""


@dataclass(frozen=True)
class Summary:
    """One row of the report: a client address (or a user, with --by user)."""

    key: str  # the address, or the user name
    labels: tuple[str, ...]
    insecure_logins: int
    insecure_failed_logins: int
    refused_attempts: int
    secure_logins: int
    unverified_logins: int
    users: tuple[str, ...]  # user names seen (with --by user: the addresses seen)
    insecure_users: tuple[str, ...]  # names (or addresses) involved in insecure logins
    protocols: tuple[str, ...]
    first_seen: str
    last_seen: str
    evidence: tuple[Evidence, ...]
    notes: tuple[str, ...] = ()
    probe_attempts: int = 0  # refused/failed logins of mailprobe's own dummy users (label "mailprobe-probe")

    @property
    def to_fix(self) -> bool:
        return self.insecure_logins > 0 or self.insecure_failed_logins > 0 or self.refused_attempts > 0


@dataclass(frozen=True)
class FileInfo:
    path: str
    format: str  # "dovecot", "exchange-lwl", "exchange-w3c", "unknown"
    lines: int
    events: int
    malformed: int
    note: str = ""


@dataclass(frozen=True)
class Report:
    by: str  # "address" or "user"
    rows: tuple[Summary, ...]
    files: tuple[FileInfo, ...]
    lines: int
    malformed: int
    malformed_samples: tuple[str, ...] = field(default=())
    notes: tuple[str, ...] = field(default=())
