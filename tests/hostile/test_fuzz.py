"""Property fuzzing: random server bytes, split anywhere, and random log text never break the parsers.

The IMAP and POP3 machines may only raise their ProtocolError, hold no more than their buffer bound, and produce at
most one event per byte received; the log parsers may only call their malformed-line callback. Inputs mix random
bytes with protocol and log tokens so the machines get past the greeting. Example counts stay small (this runs in
every test run).
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.logs.dovecot import DovecotState, scan
from scanner.logs.exchange import MAX_RECORD, ExchangeParser
from scanner.logs.model import LoginEvent
from scanner.protocols.base import ClientMachine
from scanner.protocols.events import NEED_DATA, ConnectionClosed, Continuation, ProtocolError
from scanner.protocols.imap import ImapClient
from scanner.protocols.pop3 import Pop3Client

CUTS = st.lists(st.integers(0, 4000), max_size=12)  # where the server's bytes are split into reads
FUZZ = settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

IMAP_TOKENS = [
    b"a1 OK done\r\n", b"a2 NO [PRIVACYREQUIRED] x\r\n", b"a3 OK [CAPABILITY IMAP4rev1] y\r\n", b"a4 OK\r\n",
    b"a5 BAD z\r\n", b"a6 OK\r\n", b"* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN\r\n", b"+ \r\n", b"* BYE bye\r\n",
    b"* OK {3}\r\nabc\r\n",
    b"* OK ", b"* PREAUTH ", b"* BYE ", b"* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN", b"[CAPABILITY IMAP4rev1]",
    b"a1 OK ", b"a2 NO [PRIVACYREQUIRED] ", b"a3 BAD ", b"a4 OK ", b"a5 NO ", b"+ ", b"+\r\n", b"{5}\r\n",
    b"{0}\r\n", b"{4294967295}\r\n", b"~{3}\r\n", b"\r\n", b"\n", b"\r", b"[ALERT] ", b"* 1 EXISTS", b"\x00", b"\xff",
    b"\x1b[2J", b"A" * 300,
]  # fmt: skip
IMAP_GREETINGS = (b"* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] ready\r\n", b"* OK ready\r\n",
                  b"* PREAUTH hi\r\n", b"* BYE go\r\n")  # fmt: skip
POP3_GREETINGS = (b"+OK ready\r\n", b"+OK <1.2@x>\r\n", b"-ERR no\r\n")
POP3_TOKENS = [
    b"+OK\r\n", b"-ERR x\r\n", b"+OK capa\r\nSASL PLAIN\r\nUSER\r\n.\r\n", b"+ \r\n", b"+OK go\r\n",
    b"-ERR [AUTH] no\r\n", b"..x\r\n",
    b"+OK ", b"-ERR ", b"-ERR [AUTH] ", b"+ ", b"+\r\n", b".\r\n", b"..", b"SASL PLAIN LOGIN", b"STLS", b"USER",
    b"\r\n", b"\n", b"\r", b"\x00", b"\xff", b"\x1b]0;x\x07", b"A" * 300,
]  # fmt: skip


def stream(tokens: list[bytes], greetings: tuple[bytes, ...] = (b"",)) -> st.SearchStrategy[bytes]:
    """Random bytes and tokens, most often after a valid greeting so the machine gets to its commands."""
    token = st.sampled_from(tokens)
    body = st.lists(st.one_of(token, token, token, st.binary(max_size=24)), max_size=50).map(b"".join)
    start = st.one_of(st.sampled_from(greetings), st.binary(max_size=8))
    return st.tuples(start, body).map(b"".join)


# One reply per command, in command order ({t}: that command's IMAP tag), so conversations get deep; the second
# list holds replies that end a conversation (limits, wrong tags, BYE).
IMAP_REPLIES = [
    "{t} OK done\r\n", "{t} NO [PRIVACYREQUIRED] x\r\n", "{t} BAD y\r\n", "+ \r\n{t} NO cancelled\r\n",
    "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{t} OK\r\n", "+ \r\n+ \r\n+ \r\n{t} OK\r\n", "{t} OK\r\ninjected\r\n",
    "* OK {{3}}\r\nabc\r\n{t} OK [ALERT] z\r\n",
]  # fmt: skip
IMAP_ENDINGS = [
    "* BYE x\r\n", "a99 OK wrong tag\r\n", "{t} OK " + "A" * 600 + "\r\n", "* 1 FETCH (BODY {{99999}}\r\n",
    "* OK\r\n" * 30, "garbage\r\n",
]  # fmt: skip
POP3_REPLIES = [
    "+OK\r\n", "-ERR x\r\n", "+OK capa\r\nSASL PLAIN\r\nUSER\r\n.\r\n", "+ \r\n-ERR cancelled\r\n",
    "+ \r\n+ \r\n+OK\r\n", "+OK\r\n..stuffed\r\n.\r\n", "+OK\r\ninjected\r\n", "-ERR [AUTH] no\r\n",
]  # fmt: skip
POP3_ENDINGS = ["+OK\r\n" + "X\r\n" * 40, "+OK " + "A" * 600 + "\r\n", "bogus\r\n"]


def conversation(
    replies: list[str], endings: list[str], greetings: tuple[bytes, ...], tag: bool
) -> st.SearchStrategy[bytes]:
    """A greeting, then one reply per command, now and then one that ends it or random bytes."""

    def build(start: bytes, parts: list[str | bytes]) -> bytes:
        out = [start]
        for n, part in enumerate(parts, 1):
            out.append(part if isinstance(part, bytes) else part.format(t=f"a{n}" if tag else "").encode())
        return b"".join(out)

    good = st.sampled_from(replies)
    part = st.one_of(good, good, good, good, st.sampled_from(endings), st.binary(max_size=12))
    parts = st.lists(part, min_size=2, max_size=10)
    return st.builds(build, st.sampled_from(greetings), parts)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False) if b > a]


def imap_commands(m: ImapClient) -> list[Callable[[], bytes]]:
    return [m.capability, lambda: m.login("u", "p"), lambda: m.authenticate_plain("u", "p"),
            lambda: m.authenticate("NTLM"), m.starttls, m.logout]  # fmt: skip


def pop3_commands(m: Pop3Client) -> list[Callable[[], bytes]]:
    return [m.capa, lambda: m.user("u"), lambda: m.pass_("p"), lambda: m.auth_plain("u", "p"), lambda: m.auth("NTLM"),
            m.stls, m.quit]  # fmt: skip


def drive(machine: ClientMachine, commands: list[Callable[[], bytes]], pieces: list[bytes]) -> None:
    """Feed the pieces (then EOF) as a client would: answer continuations, step through TLS windows, send the next
    command whenever the machine is idle. Returns on close or ProtocolError; anything else propagates."""
    received = 0
    events = 0
    turn = 0
    bound = machine.max_reply_bytes + machine.max_line
    for piece in [*pieces, b""]:
        machine.receive_data(piece)
        received += len(piece)
        while True:
            try:
                event = machine.next_event()
            except ProtocolError:
                return
            if event is NEED_DATA:
                break
            events += 1
            assert events <= received + 1, "more events than bytes received"
            if isinstance(event, ConnectionClosed):
                return
            if isinstance(event, Continuation):
                machine.continuation(b"\0u\0p") if turn % 2 else machine.continuation_cancel()
            if machine.awaiting_tls:
                machine.take_unprocessed()
                machine.tls_started()
            if machine.greeting is not None and machine.outstanding is None and not machine.awaiting_tls:
                commands[turn % len(commands)]()
                turn += 1
        assert len(machine._buffer) <= bound  # noqa: SLF001 - the bound is the property under test


@FUZZ
@given(data=stream(IMAP_TOKENS, IMAP_GREETINGS), cuts=st.lists(st.integers(0, 4000), max_size=12))
def test_imap_machine_raises_only_protocol_errors_and_stays_bounded(data: bytes, cuts: list[int]) -> None:
    machine = ImapClient(max_line=512, max_reply_lines=20, max_reply_bytes=2048)
    drive(machine, imap_commands(machine), split(data, cuts))


@FUZZ
@given(data=stream(POP3_TOKENS, POP3_GREETINGS), cuts=st.lists(st.integers(0, 4000), max_size=12))
def test_pop3_machine_raises_only_protocol_errors_and_stays_bounded(data: bytes, cuts: list[int]) -> None:
    machine = Pop3Client(max_line=512, max_reply_lines=20, max_reply_bytes=2048)
    drive(machine, pop3_commands(machine), split(data, cuts))


@FUZZ
@given(data=conversation(IMAP_REPLIES, IMAP_ENDINGS, IMAP_GREETINGS, True), cuts=CUTS)
def test_imap_conversations_raise_only_protocol_errors_and_stay_bounded(data: bytes, cuts: list[int]) -> None:
    machine = ImapClient(max_line=512, max_reply_lines=20, max_reply_bytes=2048)
    drive(machine, imap_commands(machine), split(data, cuts))


@FUZZ
@given(data=conversation(POP3_REPLIES, POP3_ENDINGS, POP3_GREETINGS, False), cuts=CUTS)
def test_pop3_conversations_raise_only_protocol_errors_and_stay_bounded(data: bytes, cuts: list[int]) -> None:
    machine = Pop3Client(max_line=512, max_reply_lines=20, max_reply_bytes=2048)
    drive(machine, pop3_commands(machine), split(data, cuts))


@FUZZ
@given(data=stream(POP3_TOKENS))
def test_pop3_reply_deadline_ends_only_a_bodyless_capa(data: bytes) -> None:
    """At any point the driver may give up waiting: the machine either ends a body-less CAPA or says no."""
    machine = Pop3Client(max_line=512, max_reply_lines=20, max_reply_bytes=2048)
    machine.receive_data(b"+OK ready\r\n")
    machine.next_event()
    machine.capa()
    machine.receive_data(data)
    try:
        while machine.next_event() is not NEED_DATA:
            if machine.outstanding is None:
                return
    except ProtocolError:
        return
    ended = machine.reply_at_deadline()
    if ended is not None:
        assert ended.command == "CAPA" and ended.capabilities is None and machine.outstanding is None


DOVECOT_TOKENS = [
    "Jun 10 09:15:22 mail dovecot[1]: imap-login: ", "Jan 14 10:02:11 pop3-login: Info: ", "Login: ",
    "Disconnected (auth failed, 1 attempts in 2 secs): ", "(tried to use disallowed plaintext auth): ",
    "user=<", ">, ", ", ", "method=PLAIN", "rip=203.0.113.5", "lip=192.0.2.10", "TLS", "TLS: x", "secured",
    "session=<a>", "mpid=1", "mailprobe-0123456789ab", "\n", "\r\n", "<", ">", "=", "\x00", "\ufffd", "\x1b[2J",
]  # fmt: skip
EXCHANGE_HEADER = (
    "#Software: Microsoft Exchange Server\n"
    "#Fields: dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,rpsize,command,parameters,context,puid\n"
)
EXCHANGE_TOKENS = [
    "2025-06-10T09:00:05.101Z", ",", '"', '""', "\n", "\r\n", "0000000000000001", "192.0.2.20:143",
    "203.0.113.5:50211", "login", "starttls", "user", "pass", "CloseSession", "R=OK", 'R="a1 BAD Command received in '
    'Invalid state."', "*****", "#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,"
    "remote-endpoint,event,data,context", "<", ">", "a1 ", "\x00",
]  # fmt: skip


def text(tokens: list[str]) -> st.SearchStrategy[str]:
    return st.lists(st.one_of(st.sampled_from(tokens), st.text(max_size=12)), max_size=60).map("".join)


def line_chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    """Chunks cut at line ends, as the reader yields them (the last may lack its newline)."""
    ends = [i + 1 for i, byte in enumerate(data) if byte == 0x0A]
    points = sorted({ends[c % len(ends)] for c in cuts} if ends else set()) + [len(data)]
    out, start = [], 0
    for point in points:
        if point > start:
            out.append(data[start:point])
            start = point
    return out


@FUZZ
@given(log=text(DOVECOT_TOKENS), cuts=st.lists(st.integers(0, 200), max_size=6))
def test_dovecot_parser_never_raises_and_reads_every_line(log: str, cuts: list[int]) -> None:
    events: list[LoginEvent] = []
    malformed: list[str] = []
    data = log.encode("utf-8", "surrogatepass")
    lines = scan(line_chunks(data, cuts), "mail.log", DovecotState(year=2025), events.append,
                 lambda where, what: malformed.append(what))  # fmt: skip
    assert lines >= data.count(b"\n")
    assert len(events) + len(malformed) <= data.count(b"-login: ")
    for event in events:
        assert "\n" not in event.line and event.address


@FUZZ
@given(log=text(EXCHANGE_TOKENS), cuts=st.lists(st.integers(0, 200), max_size=6))
def test_exchange_parser_never_raises_and_carries_a_bounded_record(log: str, cuts: list[int]) -> None:
    events: list[LoginEvent] = []
    parser = ExchangeParser("IMAP420250610-1.LOG", events.append, lambda where, what: None)
    data = (EXCHANGE_HEADER + log).encode("utf-8", "surrogatepass")
    chunks = line_chunks(data, cuts)

    def watched() -> object:
        for chunk in chunks:
            yield chunk
            assert len(parser._carry) <= MAX_RECORD + len(data)  # noqa: SLF001 - the bound is the property

    parser.feed(watched())  # type: ignore[arg-type]
    assert parser._carry == b""  # noqa: SLF001 - everything was read by the end
    for event in events:
        assert event.address is not None
