"""The NTLM exchange on the three machines, by bytes: AUTHENTICATE/AUTH NTLM, the NEGOTIATE as the answer to the
empty first challenge, the CHALLENGE in the second, the cancel, the server's refusal. IMAP and POP3 replay what a
real Dovecot 2.3 (auth_mechanisms = plain ntlm) sent; SMTP what Exchange's Client Frontend sends."""

from __future__ import annotations

import base64

import pytest

from scanner.protocols.events import Continuation, LocalProtocolError, Response
from scanner.protocols.imap import ImapClient
from scanner.protocols.ntlm import decode_base64, negotiate_message, parse_challenge
from scanner.protocols.pop3 import Pop3Client
from scanner.protocols.smtp import SmtpClient
from tests.protocols.protocol_feed import MODES, run
from tests.protocols.test_ntlm import SAMBA_CHALLENGE, exchange_like

NEGOTIATE = base64.b64encode(negotiate_message()) + b"\r\n"
EXCHANGE_B64 = base64.b64encode(exchange_like()).decode()


def greeted(machine, greeting: bytes):  # type: ignore[no-untyped-def]
    machine.receive_data(greeting)
    machine.next_event()
    return machine


@pytest.mark.parametrize("mode", ("whole", "bytes"))  # the second "+" only comes after the NEGOTIATE
@pytest.mark.parametrize(
    ("machine", "command", "challenge_line", "refusal"),
    [
        (lambda: greeted(ImapClient(), b"* OK Dovecot (Debian) ready.\r\n"), b"a1 AUTHENTICATE NTLM\r\n",
         f"+ {SAMBA_CHALLENGE}", b"a1 BAD Authentication aborted by client.\r\n"),
        (lambda: greeted(Pop3Client(), b"+OK Dovecot (Debian) ready.\r\n"), b"AUTH NTLM\r\n",
         f"+ {SAMBA_CHALLENGE}", b"-ERR Authentication aborted by client.\r\n"),
        (lambda: greeted(SmtpClient(), b"220 EX01.corp.example.org Microsoft ESMTP MAIL Service ready\r\n"),
         b"AUTH NTLM\r\n", f"334 {EXCHANGE_B64}", b"501 5.7.0 Authentication aborted\r\n"),
    ],
)  # fmt: skip
def test_ntlm_exchange(mode, machine, command, challenge_line, refusal) -> None:  # type: ignore[no-untyped-def]
    m = machine()
    empty = b"334 \r\n" if isinstance(m, SmtpClient) else b"+ \r\n"
    sent, events = run(
        m,
        [
            (lambda m: m.authenticate("NTLM") if isinstance(m, ImapClient) else m.auth("NTLM"), empty),
            (lambda m: m.continuation(negotiate_message()), challenge_line.encode() + b"\r\n"),
            (lambda m: m.continuation_cancel(), refusal),
        ],
        mode,
    )
    assert sent == [command, NEGOTIATE, b"*\r\n"]
    assert events[0] == [Continuation(command=events[0][0].command, text="", line=empty.decode().rstrip("\r\n"))]
    (second,) = events[1]
    assert isinstance(second, Continuation) and second.line == challenge_line
    payload = second.line.split(" ", 1)[1]
    challenge = parse_challenge(decode_base64(payload))
    assert challenge.netbios_computer == "EX01"
    (answer,) = events[2]
    assert isinstance(answer, Response) and answer.status in ("bad", "err")


@pytest.mark.parametrize("bad", ["ntlm", "NT LM", "NTLM\r\nA1 LOGIN", "X" * 21, ""])
def test_mechanism_names_are_sasl_names(bad: str) -> None:
    for m in (greeted(ImapClient(), b"* OK hi\r\n"), greeted(Pop3Client(), b"+OK hi\r\n")):
        with pytest.raises(LocalProtocolError):
            m.authenticate(bad) if isinstance(m, ImapClient) else m.auth(bad)
    with pytest.raises(LocalProtocolError):
        greeted(SmtpClient(), b"220 hi\r\n").auth(bad)


@pytest.mark.parametrize("mode", MODES)
def test_a_refused_mechanism_is_a_plain_answer(mode: str) -> None:
    m = greeted(SmtpClient(), b"220 mail.example.org ESMTP\r\n")
    _, events = run(m, [(lambda m: m.auth("NTLM"), b"504 5.7.4 Unrecognized authentication type\r\n")], mode)
    (answer,) = events[0]
    assert (answer.status, answer.reply_code, answer.code) == ("err", 504, "5.7.4")
