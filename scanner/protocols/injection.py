"""Sans-I/O STARTTLS command injection test (the CVE-2011-0411 class): what a man in the middle would append to the
client's STARTTLS, and the reading of what the server sent inside TLS before the client said anything there.

A server is vulnerable when it keeps bytes that arrived in clear after STARTTLS and runs them as commands of the TLS
session. The test appends one harmless command: ``NOOP`` with a random tag (IMAP), ``CAPA`` (POP3), ``NOOP``
(SMTP); never a login, a mail command or anything that changes state. After the handshake the client sends nothing
and waits: only the server's answer to that command, arriving there, is evidence::

    injected = injected_command("imap", "3f9a0c21")    # InjectedCommand(line=b"mpi3f9a0c21 NOOP\\r\\n", ...)
    read_in_tls(injected, b"mpi3f9a0c21 OK NOOP completed\\r\\n")   # InTlsReading(answered=True, complete=True, ...)

What counts as the answer: the tagged line with the random tag (IMAP, any status: the server parsed the command);
a complete CAPA listing, ``+OK`` and a body ended by ``.`` (POP3); a complete ``250`` reply (SMTP). Anything else
(an untagged ``* OK``, a second greeting, a lone ``+OK``, a ``220``) is unrequested chatter and proves nothing: the
server's words never decide, only the shape of the answer to the command that was injected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scanner.protocols.lines import decode

# The most of what arrives inside TLS that is read: an answer to NOOP/CAPA is a few hundred bytes at most.
MAX_READ = 16 * 1024
_TOKEN = re.compile(r"^[0-9a-f]{4,16}$")
_SMTP_LINE = re.compile(r"^([2-5][0-9][0-9])([ -]|$)")


@dataclass(frozen=True)
class InjectedCommand:
    """The command appended to STARTTLS: ``line`` as sent (with CRLF); ``tag`` is IMAP's random tag."""

    protocol: str
    line: bytes
    tag: str | None = None

    @property
    def shown(self) -> str:
        """The command as people read it: ``mpi3f9a0c21 NOOP``."""
        return self.line.decode("ascii").rstrip("\r\n")


def injected_command(protocol: str, token: str) -> InjectedCommand:
    """The harmless command to inject for ``protocol`` ("imap", "pop3", "smtp"); ``token``: random lower-case hex
    (4 to 16 digits) that makes the IMAP tag one no other command of the session can carry."""
    if protocol == "imap":
        if not _TOKEN.match(token):
            raise ValueError("the injection token must be 4 to 16 lower-case hex digits")
        tag = f"mpi{token}"
        return InjectedCommand("imap", f"{tag} NOOP\r\n".encode(), tag)
    if protocol == "pop3":
        return InjectedCommand("pop3", b"CAPA\r\n")
    if protocol == "smtp":
        return InjectedCommand("smtp", b"NOOP\r\n")
    raise ValueError(f"no injection test for {protocol!r}")


@dataclass(frozen=True)
class InTlsReading:
    """What the bytes the server sent inside TLS, before the client sent anything there, say.

    ``answered``: the answer to the injected command is among them (``evidence`` holds its lines). ``complete``:
    nothing more needs to be read (the answer is whole). ``other``: complete lines that are not that answer."""

    answered: bool
    complete: bool
    evidence: tuple[str, ...] = ()
    other: tuple[str, ...] = ()


def read_in_tls(command: InjectedCommand, data: bytes) -> InTlsReading:
    """Judge ``data``: every byte the server sent inside TLS before the client's first command there (at most
    ``MAX_READ`` of them are looked at). An incomplete last line is not read: only whole lines can be an answer."""
    lines = _complete_lines(data[:MAX_READ])
    if command.protocol == "imap":
        return _imap(command.tag or "", lines)
    if command.protocol == "pop3":
        return _pop3(lines)
    return _smtp(lines)


def _complete_lines(data: bytes) -> list[str]:
    *whole, _rest = data.split(b"\n")
    return [decode(line.rstrip(b"\r")) for line in whole]


def _imap(tag: str, lines: list[str]) -> InTlsReading:
    for i, line in enumerate(lines):
        first, _, rest = line.partition(" ")
        if first == tag and rest.split(" ", 1)[0].upper() in ("OK", "NO", "BAD"):
            return InTlsReading(True, True, (line,), tuple(lines[:i] + lines[i + 1 :]))
    return InTlsReading(False, False, (), tuple(lines))


def _pop3(lines: list[str]) -> InTlsReading:
    """A CAPA listing: the last ``+OK`` line before the first line that is a lone ``.``, and what lies between."""
    try:
        end = lines.index(".")
    except ValueError:
        return InTlsReading(False, False, (), tuple(lines))
    for start in range(end - 1, -1, -1):
        if lines[start].upper() == "+OK" or lines[start].upper().startswith("+OK "):
            answer = tuple(lines[start : end + 1])
            return InTlsReading(True, True, answer, tuple(lines[:start] + lines[end + 1 :]))
    return InTlsReading(False, False, (), tuple(lines))


def _smtp(lines: list[str]) -> InTlsReading:
    """A complete 250 reply: ``250-`` lines, if any, ended by a ``250 `` (or bare ``250``) line."""
    start = None
    for i, line in enumerate(lines):
        match = _SMTP_LINE.match(line)
        if match is None or match.group(1) != "250":
            start = None
            continue
        if start is None:
            start = i
        if match.group(2) != "-":
            answer = tuple(lines[start : i + 1])
            return InTlsReading(True, True, answer, tuple(lines[:start] + lines[i + 1 :]))
    return InTlsReading(False, False, (), tuple(lines))
