"""Each dialect's NTLM round trip, driven by scripted server replies: what is sent, what is read, what a hostile or
refusing server leaves in its place."""

from __future__ import annotations

import asyncio
import base64

import pytest

from scanner.probe.dialects import dialect_for
from scanner.protocols.events import NEED_DATA, Continuation, Response
from scanner.protocols.ntlm import negotiate_message
from tests.protocols.test_ntlm import SAMBA_CHALLENGE, exchange_like

NEGOTIATE = base64.b64encode(negotiate_message()) + b"\r\n"
EXCHANGE_B64 = base64.b64encode(exchange_like())
GREETINGS = {"imap": b"* OK ready\r\n", "pop3": b"+OK ready\r\n", "smtp": b"220 EX01 ESMTP\r\n"}
EMPTY = {"imap": b"+ \r\n", "pop3": b"+ \r\n", "smtp": b"334 \r\n"}
PREFIX = {"imap": b"+ ", "pop3": b"+ ", "smtp": b"334 "}
CANCELLED = {"imap": b"a1 BAD Authentication aborted by client.\r\n", "pop3": b"-ERR Authentication aborted.\r\n",
             "smtp": b"501 5.7.0 Authentication aborted\r\n"}  # fmt: skip


class ScriptedSasl:
    """An ``ask_sasl``: one scripted server reply per client line; records what was sent."""

    def __init__(self, machine, greeting: bytes, replies: list[bytes]) -> None:  # type: ignore[no-untyped-def]
        self.machine = machine
        self.replies = list(replies)
        self.sent: list[bytes] = []
        machine.receive_data(greeting)
        assert machine.next_event() is not NEED_DATA

    async def __call__(self, command: bytes, sasl: tuple[bytes, ...]):  # type: ignore[no-untyped-def]
        payloads = list(sasl)
        challenges: list[Continuation] = []
        self.sent.append(command)
        while True:
            event = self.machine.next_event()
            if event is NEED_DATA:
                self.machine.receive_data(self.replies.pop(0))
                continue
            if isinstance(event, Continuation):
                challenges.append(event)
                answer = self.machine.continuation(payloads.pop(0)) if payloads else self.machine.continuation_cancel()
                self.sent.append(answer)
                continue
            assert isinstance(event, Response)
            return event, tuple(challenges)


def ntlm(protocol: str, replies: list[bytes]):  # type: ignore[no-untyped-def]
    """The round trip on a fresh connection (SMTP: EHLO first, RFC 4954), what was sent after the EHLO."""
    dialect = dialect_for(protocol)
    machine = dialect.new_machine()
    if protocol == "smtp":
        replies = [b"250-EX01 Hello\r\n250 AUTH GSSAPI NTLM\r\n", *replies]
    ask = ScriptedSasl(machine, GREETINGS[protocol], replies)
    answer = asyncio.run(dialect.ntlm(machine, ask))
    if protocol == "smtp":
        assert ask.sent.pop(0) == b"EHLO mailprobe.invalid\r\n"
    return answer, ask.sent


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_negotiate_read_cancel(protocol: str) -> None:
    answer, sent = ntlm(protocol, [EMPTY[protocol], PREFIX[protocol] + EXCHANGE_B64 + b"\r\n", CANCELLED[protocol]])
    command = b"a1 AUTHENTICATE NTLM\r\n" if protocol == "imap" else b"AUTH NTLM\r\n"
    assert sent == [command, NEGOTIATE, b"*\r\n"]
    assert answer.error is None and answer.challenge is not None
    assert answer.challenge.dns_computer == "EX01.corp.example.org"


def test_a_real_dovecot_challenge() -> None:
    answer, _ = ntlm("imap", [b"+ \r\n", b"+ " + SAMBA_CHALLENGE.encode() + b"\r\n", CANCELLED["imap"]])
    assert answer.challenge is not None and answer.challenge.netbios_domain == "CORP"


@pytest.mark.parametrize(
    ("protocol", "replies", "error"),
    [
        ("smtp", [b"504 5.7.4 Unrecognized authentication type\r\n"],
         "no NTLM challenge; the server answered 504 5.7.4 Unrecognized authentication type"),
        ("imap", [b"a1 NO Unsupported mechanism\r\n"],
         "no NTLM challenge; the server answered NO Unsupported mechanism"),
        ("pop3", [b"+ \r\n", b"-ERR Authentication failed.\r\n"],
         "no NTLM challenge; the server answered -ERR Authentication failed."),
        ("imap", [b"+ \r\n", b"+ not-base64!\r\n", CANCELLED["imap"]], "the challenge is not base64 (11 characters)"),
        ("imap", [b"+ \r\n", b"+ " + base64.b64encode(b"HTTP/1.1 200 OK") + b"\r\n", CANCELLED["imap"]],
         "not an NTLM message (no NTLMSSP signature)"),
        ("pop3", [b"+ \r\n", b"+ " + base64.b64encode(negotiate_message()) + b"\r\n", CANCELLED["pop3"]],
         "NTLM message of type 1, not a CHALLENGE (type 2)"),
    ],
)  # fmt: skip
def test_no_challenge_is_a_reason(protocol: str, replies: list[bytes], error: str) -> None:
    answer, _ = ntlm(protocol, replies)
    assert answer.challenge is None and answer.error == error


def test_a_server_that_skips_the_empty_challenge() -> None:
    answer, sent = ntlm("smtp", [b"334 " + EXCHANGE_B64 + b"\r\n", b"501 5.7.0 Authentication aborted\r\n"])
    assert sent[1] == NEGOTIATE  # it answered our NEGOTIATE with nothing more: cancelled after
    assert answer.challenge is not None and answer.challenge.netbios_computer == "EX01"


@pytest.mark.parametrize(
    ("protocol", "capabilities", "offered"),
    [("imap", ("AUTH=NTLM",), True), ("pop3", ("SASL NTLM",), True), ("smtp", ("AUTH GSSAPI",), False)],
)
def test_offers_ntlm(protocol: str, capabilities: tuple[str, ...], offered: bool) -> None:
    assert dialect_for(protocol).offers_ntlm(capabilities) is offered


def test_room_for_ntlm_on_a_connection() -> None:
    from scanner.probe.ntlm_step import room_for_ntlm
    from scanner.verdicts.plaintext import LoginAttempt

    def attempt(outcome: str) -> LoginAttempt:
        return LoginAttempt("LOGIN", False, outcome, None, "", 1)  # type: ignore[arg-type]

    assert room_for_ntlm([])  # no login (--no-login-probe, implicit TLS): the exchange is the only AUTH
    assert room_for_ntlm([attempt("no")]) and room_for_ntlm([attempt("bad")]) and room_for_ntlm([attempt("err")])
    assert not room_for_ntlm([attempt("no"), attempt("bad")])  # the cancel would be the third refused command
    assert not room_for_ntlm([attempt("ok")])  # authenticated: no AUTH on this session
    for ended in ("bye", "closed", "timeout", "error"):
        assert not room_for_ntlm([attempt(ended)])
