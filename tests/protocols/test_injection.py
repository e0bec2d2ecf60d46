"""The STARTTLS command-injection test, byte by byte: the command injected per protocol, and what the server's bytes
inside TLS (before the client sent anything there) are judged to be. Realistic answers of real servers, and the
chatter of servers that are not answering it."""

from __future__ import annotations

import pytest

from scanner.protocols.injection import MAX_READ, InTlsReading, injected_command, read_in_tls

IMAP = injected_command("imap", "3f9a0c21")
POP3 = injected_command("pop3", "3f9a0c21")
SMTP = injected_command("smtp", "3f9a0c21")


def test_the_injected_commands_are_harmless_and_exact() -> None:
    assert IMAP.line == b"mpi3f9a0c21 NOOP\r\n"
    assert IMAP.tag == "mpi3f9a0c21"
    assert IMAP.shown == "mpi3f9a0c21 NOOP"
    assert POP3.line == b"CAPA\r\n"
    assert SMTP.line == b"NOOP\r\n"
    for command in (IMAP, POP3, SMTP):
        verb = command.shown.split()[-1]
        assert verb in ("NOOP", "CAPA")  # never LOGIN, AUTH, USER, PASS, MAIL, RCPT, DATA


def test_the_imap_tag_cannot_be_chosen_to_smuggle_bytes() -> None:
    with pytest.raises(ValueError):
        injected_command("imap", "a1 LOGIN x y")
    with pytest.raises(ValueError):
        injected_command("imap", "3F9A")  # upper case: the token is lower-case hex only
    with pytest.raises(ValueError):
        injected_command("nntp", "3f9a")


def one_byte_at_a_time(command, data: bytes) -> list[InTlsReading]:  # type: ignore[no-untyped-def]
    return [read_in_tls(command, data[:n]) for n in range(len(data) + 1)]


@pytest.mark.parametrize(
    ("command", "answer", "evidence"),
    [
        (IMAP, b"mpi3f9a0c21 OK NOOP completed\r\n", ("mpi3f9a0c21 OK NOOP completed",)),
        (IMAP, b"* 3 EXISTS\r\nmpi3f9a0c21 OK Completed\r\n", ("mpi3f9a0c21 OK Completed",)),
        (IMAP, b"mpi3f9a0c21 BAD Command unrecognized\r\n", ("mpi3f9a0c21 BAD Command unrecognized",)),
        (IMAP, b"mpi3f9a0c21 no noop refused\n", ("mpi3f9a0c21 no noop refused",)),
        (
            POP3,
            b"+OK Capability list follows\r\nUSER\r\nUIDL\r\nSASL PLAIN\r\n.\r\n",
            ("+OK Capability list follows", "USER", "UIDL", "SASL PLAIN", "."),
        ),
        (POP3, b"+OK\r\n.\r\n", ("+OK", ".")),
        (SMTP, b"250 2.0.0 Ok\r\n", ("250 2.0.0 Ok",)),
        (SMTP, b"250 OK\r\n", ("250 OK",)),
        (SMTP, b"250-mail.example.test\r\n250 OK\r\n", ("250-mail.example.test", "250 OK")),
    ],
)
def test_the_answer_to_the_injected_command_is_evidence(command, answer: bytes, evidence: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    readings = one_byte_at_a_time(command, answer)
    last = readings[-1]
    assert (last.answered, last.complete, last.evidence) == (True, True, evidence)
    assert not any(r.answered for r in readings[:-1]), "judged before the answer was whole"


@pytest.mark.parametrize(
    ("command", "chatter"),
    [
        (IMAP, b"* OK [ALERT] Welcome back, TLS is on\r\n"),  # untagged: proves nothing
        (IMAP, b"* BYE Autologout; idle for too long\r\n"),
        (IMAP, b"a5 OK NOOP completed\r\n"),  # a tag that is not the random one
        (IMAP, b"mpi3f9a0c2 OK close but not the tag\r\n"),
        (IMAP, b"mpi3f9a0c21OK glued\r\n"),
        (IMAP, b"mpi3f9a0c21 OK NOOP completed"),  # no line end yet: not whole
        (POP3, b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n"),  # a second greeting
        (POP3, b"+OK Capability list follows\r\nUSER\r\n"),  # no final dot yet
        (POP3, b"-ERR unknown command\r\n"),
        (POP3, b".\r\n"),
        (SMTP, b"220 mail.example.test ESMTP ready\r\n"),  # a second greeting
        (SMTP, b"250-mail.example.test\r\n250-PIPELINING\r\n"),  # not ended
        (SMTP, b"421 4.4.2 timeout\r\n"),
        (SMTP, b"2500 not a reply\r\n"),
    ],
)
def test_chatter_that_does_not_answer_it_is_no_evidence(command, chatter: bytes) -> None:  # type: ignore[no-untyped-def]
    for reading in one_byte_at_a_time(command, chatter):
        assert not reading.answered
        assert not reading.complete  # keep listening: the answer may still come


def test_chatter_before_the_answer_is_kept_apart() -> None:
    data = b"* OK [ALERT] hello\r\nmpi3f9a0c21 OK NOOP completed\r\n"
    assert read_in_tls(IMAP, data) == InTlsReading(
        True, True, ("mpi3f9a0c21 OK NOOP completed",), ("* OK [ALERT] hello",)
    )
    data = b"+OK hello again\r\n+OK Capability list follows\r\nUSER\r\n.\r\n"
    reading = read_in_tls(POP3, data)
    assert reading.evidence == ("+OK Capability list follows", "USER", ".")
    assert reading.other == ("+OK hello again",)
    data = b"220 ready again\r\n250 2.0.0 Ok\r\n"
    assert read_in_tls(SMTP, data) == InTlsReading(True, True, ("250 2.0.0 Ok",), ("220 ready again",))


def test_a_flood_is_read_no_further_than_the_bound() -> None:
    flood = b"* OK " + b"x" * (2 * MAX_READ) + b"\r\nmpi3f9a0c21 OK late\r\n"
    assert not read_in_tls(IMAP, flood).answered  # beyond MAX_READ nothing is looked at


def test_hostile_bytes_never_raise() -> None:
    for command in (IMAP, POP3, SMTP):
        for data in (b"\xff\xfe\x00\r\n", b"\r\n" * 50, b"\x1b[2J\r\n.\r\n", bytes(range(256)) + b"\n"):
            read_in_tls(command, data)
