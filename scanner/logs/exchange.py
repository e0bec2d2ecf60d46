"""Exchange POP3/IMAP4 protocol logs, both CSV layouts, told apart by their ``#Fields:`` header.

* ``dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,rpsize,command,parameters,context[,puid]``
  (2013 and later, one row per command, the result in ``context`` as ``R=OK`` or ``R="<reply>"``): "lwl".
* ``date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context``
  (the SMTP-style layout of the 2010 documentation: ``<`` client line, ``>`` server line, ``+``/``-`` connect and
  disconnect): "w3c".

There is no "secure" flag in either. A login is secure when the session is on an implicit-TLS port (993/995, or
``tls_ports``) or when a STARTTLS/STLS in the same session was answered OK before the login command. A login row
answered with ``Command received in Invalid state`` / ``Command is not valid in this state`` is a refused cleartext
attempt (Exchange's answer under SecureLogin). Back-end files (``IMAP4BE*``, ``POP3BE*``, ports 1143/1993/1110/1995)
hold the front end's proxied sessions, not clients: their logins are counted but not attributed.

User names and command parameters are the client's: Exchange writes them as quoted CSV fields, which may hold
commas, quotes and line breaks. Records are therefore read as CSV records (a quoted field runs across lines and
across chunks), never as physical lines, so no text a client typed can pass for a row of its own.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from scanner.logs.model import Kind, LoginEvent

IMPLICIT_TLS_PORTS = frozenset({993, 995})
BACKEND_PORTS = frozenset({1110, 1143, 1993, 1995})
LOGIN_COMMANDS = frozenset({"login", "authenticate", "pass", "auth", "user"})
TLS_COMMANDS = frozenset({"starttls", "stls"})
POP3_COMMANDS = frozenset({"user", "pass", "stls", "auth", "capa", "apop", "uidl", "retr", "stat", "list", "quit"})
# Mechanisms that carry no password; without TLS they still break once SecureLogin is enforced.
INTEGRATED_MECHS = frozenset({"NTLM", "GSSAPI", "KERBEROS", "NEGOTIATE"})
REFUSAL_WORDS = ("invalid state", "not valid in this state")

# Only rows whose command matters reach Python code (plus headers, which may repeat after a service restart).
LWL_FILTER = re.compile(
    rb"^#Fields:|,(?:login|authenticate|user|pass|auth|starttls|stls|closesession|LOGIN|AUTHENTICATE|USER|PASS|AUTH"
    rb"|STARTTLS|STLS|CloseSession),",
    re.MULTILINE,
)
MAX_SESSIONS = 50_000  # open sessions kept per file; the oldest go first, so memory stays flat on huge files
MAX_RECORD = 1 << 20  # a quoted field still open after this many bytes is damage, not a record: read on by lines


class Malformed(Exception):
    pass


@dataclass
class Session:
    tls: bool = False
    user: str = ""  # POP3 USER name waiting for PASS
    refused: bool = False
    pending: tuple[str, str, str, str] | None = None  # w3c layout: (command, arguments, line, IMAP tag) to answer


@dataclass
class ExchangeParser:
    name: str  # file name, for "file:line" and the BE check
    emit: Callable[[LoginEvent], None]
    on_malformed: Callable[[str, str], None]
    tls_ports: frozenset[int] = IMPLICIT_TLS_PORTS
    protocol: str = ""  # from "#Log-type:" or the file name; else guessed per command
    backend: bool = False
    backend_logins: int = 0
    layout: str = ""
    columns: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    _carry: bytes = b""  # the start of a record whose quoted field goes on in the next chunk

    def __post_init__(self) -> None:
        base = self.name.rsplit("/", 1)[-1].upper()
        if base.startswith("IMAP4"):
            self.protocol = "imap"
        elif base.startswith("POP3"):
            self.protocol = "pop3"
        self.backend = base.startswith(("IMAP4BE", "POP3BE"))

    # -- header ---------------------------------------------------------------------------------------------------
    def header(self, line: str) -> None:
        if line.startswith("#Log-type:"):
            kind = line.upper()
            self.protocol = "imap" if "IMAP" in kind else "pop3" if "POP" in kind else self.protocol
        elif line.startswith("#Fields:"):
            names = [n.strip().lower() for n in line[8:].strip().split(",")]
            self.columns = {n: i for i, n in enumerate(names)}
            if {"sessionid", "sip", "cip", "command", "context"} <= self.columns.keys():
                self.layout = "lwl"
            elif {"session-id", "local-endpoint", "remote-endpoint", "event", "data"} <= self.columns.keys():
                self.layout = "w3c"
            else:
                self.layout = ""

    # -- streaming ------------------------------------------------------------------------------------------------
    def feed(self, chunk_iter: Iterable[bytes]) -> int:
        """Consume the file; return its line count."""
        line_no = 0
        for block in chunk_iter:
            chunk = self._whole_records(block)
            if self.layout == "w3c" or not self.layout:
                line_no = self._feed_lines(chunk, line_no)
                continue
            line_no = self._feed_filtered(chunk, line_no)
        if self._carry:  # a quote never closed: the rest of the file, line by line
            chunk, self._carry = self._carry, b""
            line_no = self._feed_lines(chunk, line_no, quoted=False)
        return line_no

    def _whole_records(self, block: bytes) -> bytes:
        """``block`` (after what was carried) up to the last record boundary; the rest is carried to the next."""
        data = self._carry + block if self._carry else block
        self._carry = b""
        quotes = data.count(b'"')
        if quotes % 2 == 0:
            return data
        start = _last_record_start(data, quotes)
        if len(data) - start > MAX_RECORD:
            return data
        self._carry = data[start:]
        return data[:start]

    def _feed_filtered(self, chunk: bytes, line_no: int) -> int:
        count = chunk.count
        last = 0
        done = -1
        quotes = counted = 0  # quotes in chunk[:counted]: odd means inside a quoted field
        for match in LWL_FILTER.finditer(chunk):
            pos = match.start()
            if pos < done:  # a second hit on a line already handled
                continue
            start = chunk.rfind(b"\n", 0, pos) + 1
            quotes += count(b'"', counted, start)
            counted = start
            if quotes % 2:  # the hit is inside a quoted field: its record began on an earlier line
                start = _last_record_start(chunk, quotes, start)
                quotes, counted = 0, start
            end = _record_end(chunk, start, chunk.find(b"\n", pos))
            line_no += count(b"\n", last, start)
            last = start
            done = end
            self._line(chunk[start:end], line_no + 1)
            if self.layout != "lwl":  # a new header switched layouts: finish the chunk line by line
                line_no += count(b"\n", last, end + 1)
                return self._feed_lines(chunk[end + 1 :], line_no)
        line_no += count(b"\n", last)
        return line_no + (0 if chunk.endswith(b"\n") else 1)

    def _feed_lines(self, chunk: bytes, line_no: int, quoted: bool = True) -> int:
        """Record by record (a quoted field may span lines; ``quoted`` False reads plain lines)."""
        if not chunk:
            return line_no
        record: list[bytes] = []
        first = 0
        for raw in chunk.split(b"\n")[: -1 if chunk.endswith(b"\n") else None]:
            line_no += 1
            if not record:
                first = line_no
            record.append(raw)
            if quoted and sum(part.count(b'"') for part in record) % 2:
                continue
            self._line(b"\n".join(record), first)
            record = []
        if record:
            self._line(b"\n".join(record), first)
        return line_no

    def _line(self, raw: bytes, line_no: int) -> None:
        if not raw.strip():
            return
        line = raw.decode("utf-8", "replace").rstrip("\r")
        if line.startswith("#"):
            self.header(line)
            return
        source = f"{self.name}:{line_no}"
        try:
            if self.layout == "lwl":
                self._lwl_row(line, source)
            elif self.layout == "w3c":
                self._w3c_row(line, source)
            else:
                raise Malformed("row before any #Fields: header")
        except Malformed as exc:
            self.on_malformed(source, f"{exc}: {line[:200]}")

    def _cols(self, line: str) -> list[str]:
        try:
            cols = next(csv.reader([line])) if '"' in line else line.split(",")
        except csv.Error as exc:  # e.g. a bare CR in an unquoted field: damage, not a row
            raise Malformed(f"unreadable CSV: {exc}") from None
        if len(cols) < len(self.columns) - 1:  # a trailing empty column may be cut
            raise Malformed(f"{len(cols)} columns, header has {len(self.columns)}")
        return cols

    def _session(self, key: str) -> Session:
        session = self.sessions.get(key)
        if session is None:
            if len(self.sessions) >= MAX_SESSIONS:
                del self.sessions[next(iter(self.sessions))]
            session = self.sessions[key] = Session()
        return session

    # -- 2013+ layout: one row per command with its result ---------------------------------------------------------
    def _lwl_row(self, line: str, source: str) -> None:
        c = self.columns
        cols = self._cols(line)
        command = cols[c["command"]].strip().lower()
        key = cols[c["sessionid"]]
        if command == "closesession":
            self.sessions.pop(key, None)
            return
        if command not in LOGIN_COMMANDS and command not in TLS_COMMANDS:
            return  # the filter also lets through rows whose parameters merely contain such a word
        stamp = cols[c["datetime"]] if "datetime" in c else ""
        if not stamp[:4].isdigit():
            raise Malformed("bad dateTime")
        local_host, local_port = split_endpoint(cols[c["sip"]])
        client, _ = split_endpoint(cols[c["cip"]])
        session = self._session(key)
        if local_port in self.tls_ports:
            session.tls = True
        context = cols[c["context"]]
        outcome = reply_outcome(context)
        params = cols[c["parameters"]].strip() if "parameters" in c else ""
        user = cols[c["user"]].strip() if "user" in c else ""
        self._judge(session, command, params, user, outcome, stamp, client, local_host, local_port, source, line)

    # -- 2010 layout: client and server lines, the reply decides ---------------------------------------------------
    def _w3c_row(self, line: str, source: str) -> None:
        c = self.columns
        cols = self._cols(line)
        key = cols[c["session-id"]]
        event = cols[c["event"]].strip()
        if event == "-":
            self.sessions.pop(key, None)
            return
        if event not in ("<", ">"):
            return
        data = cols[c["data"]].strip()
        session = self._session(key)
        if event == "<":
            words = data.split()
            if not words:
                return
            if words[0].lower() in POP3_COMMANDS:
                command, rest, tag = words[0].lower(), words[1:], ""
            elif len(words) > 1:
                command, rest, tag = words[1].lower(), words[2:], words[0]
            else:
                return
            if command in LOGIN_COMMANDS or command in TLS_COMMANDS:
                session.pending = (command, " ".join(rest), line, tag)
            return
        if session.pending is None:
            return
        command, params, first_line, tag = session.pending
        if data == "+" or data.startswith("+ ") or (tag and data.split(" ", 1)[0] != tag):
            return  # an untagged line, a continuation, or the answer to another command: not this one's answer
        session.pending = None
        stamp = cols[c["date-time"]] if "date-time" in c else ""
        if not stamp[:4].isdigit():
            raise Malformed("bad date-time")
        local_host, local_port = split_endpoint(cols[c["local-endpoint"]])
        client, _ = split_endpoint(cols[c["remote-endpoint"]])
        if local_port in self.tls_ports:
            session.tls = True
        outcome = reply_outcome("R=" + data)
        self._judge(
            session,
            command,
            params,
            "",
            outcome,
            stamp,
            client,
            local_host,
            local_port,
            source,
            f"{first_line}\n{line}",
        )

    # -- the decision, shared ------------------------------------------------------------------------------------
    def _judge(
        self,
        session: Session,
        command: str,
        params: str,
        user: str,
        outcome: str,
        stamp: str,
        client: str,
        local_host: str,
        local_port: int,
        source: str,
        line: str,
    ) -> None:
        protocol = self.protocol or ("pop3" if command in ("user", "pass", "stls", "auth") else "imap")
        if command in TLS_COMMANDS:
            if outcome == "ok":
                session.tls = True
            return
        words = params.split()
        method = ""
        if command == "user":
            user = user or (words[0] if words else "")
            if outcome != "refused":
                session.user = user
                return
            method = "USER/PASS"
        elif command == "pass":
            method = "USER/PASS"
            user = user or session.user
        elif command == "login":
            method = "LOGIN"
            user = user or (words[0] if words and words[0] != "*****" else "")
        else:  # authenticate / auth
            method = words[0].upper() if words else "AUTH"
        if self.backend or local_port in BACKEND_PORTS:
            self.backend_logins += 1
            return
        note = ""
        if outcome == "refused":
            if session.refused:
                return
            session.refused = True
            kind = Kind.REFUSED
            note = "cleartext login refused: no STARTTLS/STLS before it"
        elif session.tls:
            if outcome != "ok":
                return
            kind = Kind.SECURE
            note = f"implicit TLS port {local_port}" if local_port in self.tls_ports else "after STARTTLS/STLS"
        elif method in INTEGRATED_MECHS:
            if outcome != "ok":
                return
            kind = Kind.INSECURE
            note = f"{method} without TLS: no password in clear, but SecureLogin will refuse it"
        else:
            kind = Kind.INSECURE if outcome == "ok" else Kind.INSECURE_FAILED
            note = f"port {local_port}, no STARTTLS/STLS before the login"
        self.emit(
            LoginEvent(
                kind=kind,
                address=client,
                user=user,
                protocol=protocol,
                timestamp=stamp[:19] if len(stamp) >= 19 else stamp,
                method=method,
                source=source,
                line=line,
                local_address=local_host,
                note=note,
            )
        )


def _last_record_start(data: bytes, quotes: int, end: int | None = None) -> int:
    """The start of the record holding ``data[end - 1]`` (default: the end), given ``quotes`` in ``data[:end]``:
    the last line start before ``end`` with an even number of quotes before it (0 when there is none)."""
    pos = len(data) if end is None else end
    while True:
        newline = data.rfind(b"\n", 0, pos)
        quotes -= data.count(b'"', newline + 1, pos)
        if newline == -1 or quotes % 2 == 0:
            return newline + 1
        pos = newline


def _record_end(chunk: bytes, start: int, end: int) -> int:
    """The end of the record starting at ``start`` whose first line ends at ``end`` (-1: the chunk's end)."""
    while end != -1 and chunk.count(b'"', start, end) % 2:
        end = chunk.find(b"\n", end + 1)
    return len(chunk) if end == -1 else end


def split_endpoint(text: str) -> tuple[str, int]:
    """``192.0.2.1:143`` / ``[2001:db8::1]:143`` -> (host, port)."""
    text = text.strip()
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise Malformed(f"bad endpoint {text!r}")
    return host.strip("[]"), int(port)


def reply_outcome(context: str) -> str:
    """``R=OK`` -> ok; an Invalid-state answer -> refused; any other reply -> failed; no reply -> unknown."""
    at = context.find("R=")
    if at == -1:
        return "failed" if "ErrMsg=" in context or "LogonFailed" in context else "unknown"
    reply = context[at + 2 :].strip().strip('"')
    low = reply.lower()
    if any(word in low for word in REFUSAL_WORDS):
        return "refused"
    words = reply.split()
    if reply.upper().startswith("OK") or reply.startswith("+OK") or (len(words) > 1 and words[1].upper() == "OK"):
        return "ok"
    return "failed"
