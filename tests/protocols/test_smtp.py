"""SmtpClient against the wording of real submission servers (Postfix with Dovecot SASL, Dovecot submission,
Exchange's Client Frontend connector), fed whole, byte by byte, glued and split at every position."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given

from scanner.protocols.events import (
    NEED_DATA,
    ConnectionClosed,
    Continuation,
    Greeting,
    LocalProtocolError,
    ProtocolError,
    Response,
)
from scanner.protocols.smtp import SmtpClient, enhanced_code
from tests.hostile.test_fuzz import CUTS, FUZZ, conversation, drive, split, stream
from tests.protocols.protocol_feed import EOF, MODES, drain, run

POSTFIX_GREETING = b"220 mail.example.org ESMTP Postfix (Debian/GNU)\r\n"
POSTFIX_EHLO = (
    b"250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n"
    b"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"
)
POSTFIX_EHLO_AUTH = POSTFIX_EHLO.replace(b"250-VRFY", b"250-AUTH PLAIN LOGIN\r\n250-VRFY")
EXCHANGE_GREETING = (
    b"220 EX01.corp.example.org Microsoft ESMTP MAIL Service ready at Mon, 30 Nov 2026 12:00:00 +0000\r\n"
)
EXCHANGE_EHLO_CLEAR = (
    b"250-EX01.corp.example.org Hello [192.0.2.7]\r\n250-SIZE 37748736\r\n250-PIPELINING\r\n250-DSN\r\n"
    b"250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250-AUTH GSSAPI NTLM\r\n250-8BITMIME\r\n250-BINARYMIME\r\n"
    b"250 CHUNKING\r\n"
)


def greeted(greeting: bytes = POSTFIX_GREETING, **kwargs: int) -> SmtpClient:
    machine = SmtpClient(**kwargs)
    machine.receive_data(greeting)
    assert isinstance(machine.next_event(), Greeting)
    return machine


def answer(machine: SmtpClient, data: bytes) -> list[object]:
    machine.receive_data(data)
    return drain(machine)


@pytest.mark.parametrize("mode", MODES)
def test_postfix_tls_auth_only_hides_auth_and_answers_503(mode: str) -> None:
    steps = [
        (None, POSTFIX_GREETING),
        (lambda m: m.ehlo("mailprobe.invalid"), POSTFIX_EHLO),
        (lambda m: m.auth_plain("mailprobe-u", "pw"), b"503 5.5.1 Error: authentication not enabled\r\n"),
        (lambda m: m.quit(), b"221 2.0.0 Bye\r\n" + EOF),
    ]
    sent, events = run(SmtpClient(), steps, mode)

    plain = base64.b64encode(b"\0mailprobe-u\0pw")
    assert sent == [b"EHLO mailprobe.invalid\r\n", b"AUTH PLAIN " + plain + b"\r\n", b"QUIT\r\n"]
    (greeting,) = events[0]
    assert greeting == Greeting(
        "ok",
        "mail.example.org ESMTP Postfix (Debian/GNU)",
        None,
        None,
        "220 mail.example.org ESMTP Postfix (Debian/GNU)",
        220,
    )
    (ehlo,) = events[1]
    assert ehlo.status == "ok" and ehlo.reply_code == 250 and ehlo.text == "mail.example.org"
    assert ehlo.capabilities == (
        "PIPELINING",
        "SIZE 10240000",
        "VRFY",
        "ETRN",
        "STARTTLS",
        "ENHANCEDSTATUSCODES",
        "8BITMIME",
        "DSN",
        "SMTPUTF8",
        "CHUNKING",
    )
    assert len(ehlo.lines) == 11
    assert events[2] == [
        Response(
            "AUTH",
            "err",
            "5.5.1",
            "Error: authentication not enabled",
            lines=("503 5.5.1 Error: authentication not enabled",),
            reply_code=503,
        )
    ]
    assert events[3][0] == Response("QUIT", "ok", "2.0.0", "Bye", lines=("221 2.0.0 Bye",), reply_code=221)
    assert isinstance(events[3][-1], ConnectionClosed)


@pytest.mark.parametrize("mode", ("whole", "bytes"))  # a server cannot glue the second 334 before the answer
def test_auth_login_two_challenges_then_credential_failure(mode: str) -> None:
    steps = [
        (None, POSTFIX_GREETING),
        (lambda m: m.ehlo("mailprobe.invalid"), POSTFIX_EHLO_AUTH),
        (lambda m: m.auth_login(), b"334 VXNlcm5hbWU6\r\n"),
        (lambda m: m.continuation(b"mailprobe-u"), b"334 UGFzc3dvcmQ6\r\n"),
        (lambda m: m.continuation(b"pw"), b"535 5.7.8 Error: authentication failed: authentication failure\r\n"),
    ]
    sent, events = run(SmtpClient(), steps, mode)

    assert sent[1:] == [b"AUTH LOGIN\r\n", b"bWFpbHByb2JlLXU=\r\n", b"cHc=\r\n"]
    assert events[1][0].capabilities[2] == "AUTH PLAIN LOGIN"
    assert events[2] == [Continuation("AUTH", "Username:", "334 VXNlcm5hbWU6")]
    assert events[3] == [Continuation("AUTH", "Password:", "334 UGFzc3dvcmQ6")]
    (failed,) = events[4]
    assert (failed.status, failed.reply_code, failed.code) == ("err", 535, "5.7.8")
    assert failed.text == "Error: authentication failed: authentication failure"
    assert failed.lines == ("535 5.7.8 Error: authentication failed: authentication failure",)


def test_auth_plain_without_initial_response_is_cancelled_with_a_star() -> None:
    machine = greeted()
    assert machine.auth_plain("u", "p", initial_response=False) == b"AUTH PLAIN\r\n"
    (challenge,) = answer(machine, b"334 \r\n")
    assert challenge == Continuation("AUTH", "", "334 ")
    assert machine.continuation_cancel() == b"*\r\n"
    (refused,) = answer(machine, b"501 5.7.0 Authentication aborted\r\n")
    assert (refused.status, refused.reply_code, refused.code, refused.text) == (
        "err",
        501,
        "5.7.0",
        "Authentication aborted",
    )


@pytest.mark.parametrize(
    ("line", "code", "enhanced"),
    [
        (b"530 5.7.0 Must issue a STARTTLS command first\r\n", 530, "5.7.0"),
        (b"538 5.7.11 Encryption required for requested authentication mechanism\r\n", 538, "5.7.11"),
        (b"523 5.7.10 Plaintext authentication disabled.\r\n", 523, "5.7.10"),
        (b"504 5.7.4 Unrecognized authentication type\r\n", 504, "5.7.4"),
        (b"454 4.7.0 Temporary authentication failure\r\n", 454, "4.7.0"),
        (b"535 Authentication failed\r\n", 535, None),
    ],
)
def test_refusals_keep_reply_and_enhanced_code(line: bytes, code: int, enhanced: str | None) -> None:
    machine = greeted()
    machine.auth_plain("u", "p")
    (response,) = answer(machine, line)
    assert (response.status, response.reply_code, response.code) == ("err", code, enhanced)
    assert not response.text[:1].isdigit()


def test_enhanced_code_parsing() -> None:
    assert enhanced_code("5.7.8 Error") == ("5.7.8", "Error")
    assert enhanced_code("5.007.010 x") == ("5.7.10", "x")
    assert enhanced_code("2.0.0") == ("2.0.0", "")
    assert enhanced_code("3.1.1 no such class") == (None, "3.1.1 no such class")
    assert enhanced_code("5.7.1234 too long") == (None, "5.7.1234 too long")
    assert enhanced_code("5.7.8x") == (None, "5.7.8x")
    assert enhanced_code("Error 5.7.8") == (None, "Error 5.7.8")


def test_421_and_554_greetings_are_refusals() -> None:
    machine = SmtpClient()
    machine.receive_data(b"421 4.3.2 Service shutting down\r\n")
    greeting = machine.next_event()
    assert (greeting.status, greeting.reply_code, greeting.code) == ("bye", 421, "4.3.2")
    machine = SmtpClient()
    machine.receive_data(b"554-mail.example.org\r\n554 No SMTP service here\r\n")
    greeting = machine.next_event()
    assert (greeting.status, greeting.text) == ("err", "mail.example.org No SMTP service here")
    assert greeting.line == "554-mail.example.org 554 No SMTP service here"


@pytest.mark.parametrize("mode", MODES)
def test_multi_line_greeting(mode: str) -> None:
    steps = [(None, b"220-mail.example.org ESMTP\r\n220-second line\r\n220 ready\r\n")]
    _, events = run(SmtpClient(), steps, mode)
    (greeting,) = events[0]
    assert greeting.text == "mail.example.org ESMTP second line ready" and greeting.reply_code == 220


def test_helo_fallback_after_ehlo_refused() -> None:
    machine = greeted(b"220 old.example.org SMTP\r\n")
    machine.ehlo("mailprobe.invalid")
    (refused,) = answer(machine, b"502 Command not implemented\r\n")
    assert (refused.status, refused.reply_code, refused.capabilities) == ("err", 502, None)
    assert machine.helo("mailprobe.invalid") == b"HELO mailprobe.invalid\r\n"
    (ok,) = answer(machine, b"250 old.example.org\r\n")
    assert ok.status == "ok" and ok.capabilities is None and machine.extensions == ()


def test_starttls_opens_the_window_and_forgets_extensions() -> None:
    machine = greeted()
    machine.ehlo("mailprobe.invalid")
    answer(machine, POSTFIX_EHLO_AUTH)
    assert "STARTTLS" in machine.extensions
    machine.starttls()
    (ready,) = answer(machine, b"220 2.0.0 Ready to start TLS\r\n250 injected\r\n")
    assert (ready.status, ready.code) == ("ok", "2.0.0")
    assert machine.awaiting_tls
    assert machine.next_event() is NEED_DATA
    assert machine.take_unprocessed() == b"250 injected\r\n"
    machine.tls_started()
    assert machine.extensions == () and machine.tls_active
    assert machine.ehlo("mailprobe.invalid") == b"EHLO mailprobe.invalid\r\n"


def test_exchange_client_frontend_offers_no_basic_auth_in_clear() -> None:
    machine = greeted(EXCHANGE_GREETING)
    machine.ehlo("mailprobe.invalid")
    (ehlo,) = answer(machine, EXCHANGE_EHLO_CLEAR)
    assert "AUTH GSSAPI NTLM" in ehlo.capabilities
    machine.auth_login()
    (refused,) = answer(machine, b"504 5.7.4 Unrecognized authentication type\r\n")
    assert (refused.reply_code, refused.code) == (504, "5.7.4")


def test_whole_conversation_split_at_every_position() -> None:
    server = [
        POSTFIX_GREETING,
        POSTFIX_EHLO_AUTH,
        b"530-5.7.0 Must issue a STARTTLS\r\n530 5.7.0 command first\r\n",
        b"221 2.0.0 Bye\r\n",
    ]
    commands = [lambda m: m.ehlo("mailprobe.invalid"), lambda m: m.auth_plain("u", "p"), lambda m: m.quit()]
    whole = b"".join(server)
    for cut in range(1, len(whole)):
        machine = SmtpClient()
        events: list[object] = []
        offsets = [sum(len(s) for s in server[: i + 1]) for i in range(len(server))]
        fed = 0
        for index, end in enumerate(offsets):
            while fed < end:  # two chunks per reply at most, cut where the global cut falls
                upto = cut if fed < cut < end else end
                machine.receive_data(whole[fed:upto])
                fed = upto
                events += drain(machine)
            if index < len(commands):
                commands[index](machine)
        refused = [e for e in events if isinstance(e, Response) and e.command == "AUTH"]
        assert len(refused) == 1, cut
        assert (refused[0].reply_code, refused[0].code, refused[0].text) == (
            530,
            "5.7.0",
            "Must issue a STARTTLS command first",
        )
        assert [type(e).__name__ for e in events] == ["Greeting", "Response", "Response", "Response"]


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 400 Bad Request\r\n",
        b"* OK IMAP ready\r\n",
        b"\x16\x03\x01\x00\x05hello",
        b"250 not a greeting\r\n",
        b"220-first\r\n221 other code\r\n",
    ],
)
def test_not_an_smtp_greeting(data: bytes) -> None:
    machine = SmtpClient()
    machine.receive_data(data)
    with pytest.raises(ProtocolError, match="not an SMTP greeting"):
        machine.next_event()


def test_reply_code_change_inside_a_multi_line_reply_is_refused() -> None:
    machine = greeted()
    machine.ehlo("mailprobe.invalid")
    machine.receive_data(b"250-mail.example.org\r\n530 oops\r\n")
    with pytest.raises(ProtocolError, match="reply code changed"):
        machine.next_event()


def test_limits_bound_replies_and_greetings() -> None:
    machine = greeted(max_reply_lines=5)
    machine.ehlo("mailprobe.invalid")
    machine.receive_data(b"250-x\r\n" * 10)
    with pytest.raises(ProtocolError, match="more than 5 lines"):
        machine.next_event()
    machine = SmtpClient(max_reply_lines=3)
    machine.receive_data(b"220-x\r\n" * 10)
    with pytest.raises(ProtocolError, match="greeting too long"):
        machine.next_event()
    machine = SmtpClient(max_line=100)
    machine.receive_data(b"220 " + b"x" * 200)
    with pytest.raises(ProtocolError, match="line too long"):
        machine.next_event()


def test_unexpected_334_outside_auth_is_a_protocol_error() -> None:
    machine = greeted()
    machine.ehlo("mailprobe.invalid")
    machine.receive_data(b"334 VXNlcm5hbWU6\r\n")
    with pytest.raises(ProtocolError, match="unexpected 334"):
        machine.next_event()


def test_no_way_to_send_mail_and_names_are_checked() -> None:
    machine = greeted()
    assert not any(hasattr(machine, verb) for verb in ("mail", "rcpt", "data", "mail_from"))
    with pytest.raises(LocalProtocolError):
        machine.ehlo("bad name\r\nMAIL FROM:<x>")
    with pytest.raises(LocalProtocolError):
        machine.auth_plain("u\r\nMAIL FROM:<x>", "p")


def test_close_while_idle_and_during_a_reply() -> None:
    machine = greeted()
    machine.ehlo("mailprobe.invalid")
    events = answer(machine, b"250-mail.example.org\r\n250-PIPE")
    assert events == []
    machine.receive_data(b"")
    (closed,) = drain(machine)
    assert isinstance(closed, ConnectionClosed) and closed.partial == b"250-PIPE"


SMTP_GREETINGS = (POSTFIX_GREETING, b"220-a\r\n220 b\r\n", b"421 4.3.2 go away\r\n", b"554 no\r\n")
SMTP_TOKENS = [
    b"250 ok\r\n", b"250-x\r\n", b"334 VXNlcm5hbWU6\r\n", b"334 \r\n", b"535 5.7.8 no\r\n", b"220 2.0.0 go\r\n",
    b"503 5.5.1 x\r\n", b"421 4.7.0 bye\r\n", b"250-", b"250 ", b"334 ", b"5.7.8 ", b"999 x\r\n", b"2", b"\r\n",
    b"\n", b"\x00", b"\xff", b"\x1b[2J", b"A" * 300,
]  # fmt: skip
SMTP_REPLIES = [
    "250-mail\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n", "250 ok\r\n", "334 \r\n535 5.7.8 no\r\n",
    "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n535 5.7.8 no\r\n", "220 2.0.0 go\r\ninjected\r\n",
    "530 5.7.0 Must issue a STARTTLS command first\r\n", "501 5.7.0 cancelled\r\n",
]  # fmt: skip
SMTP_ENDINGS = ["250-x\r\n" * 40, "250 " + "A" * 600 + "\r\n", "bogus\r\n", "250-a\r\n530 b\r\n", "421 bye\r\n"]


def smtp_commands(m: SmtpClient) -> list:  # type: ignore[type-arg]
    return [
        lambda: m.ehlo("mailprobe.invalid"),
        lambda: m.auth_plain("u", "p", initial_response=False),
        m.auth_login,
        lambda: m.auth("NTLM"),
        m.starttls,
        lambda: m.helo("mailprobe.invalid"),
        m.quit,
    ]


@FUZZ
@given(data=stream(SMTP_TOKENS, SMTP_GREETINGS), cuts=CUTS)
def test_smtp_machine_raises_only_protocol_errors_and_stays_bounded(data: bytes, cuts: list[int]) -> None:
    machine = SmtpClient(max_reply_lines=20, max_reply_bytes=2048, max_line=256)
    drive(machine, smtp_commands(machine), split(data, cuts))


@FUZZ
@given(data=conversation(SMTP_REPLIES, SMTP_ENDINGS, SMTP_GREETINGS, False), cuts=CUTS)
def test_smtp_conversations_raise_only_protocol_errors_and_stay_bounded(data: bytes, cuts: list[int]) -> None:
    machine = SmtpClient(max_reply_lines=20, max_reply_bytes=2048, max_line=256)
    drive(machine, smtp_commands(machine), split(data, cuts))
