"""Pop3Client against the wording of real servers (Dovecot 2.3, Exchange 2013), fed whole, byte by byte and glued."""

from __future__ import annotations

import base64

import pytest

from scanner.protocols.events import (
    NEED_DATA,
    ConnectionClosed,
    Continuation,
    Greeting,
    LocalProtocolError,
    ProtocolError,
    Response,
)
from scanner.protocols.lines import has_capability
from scanner.protocols.pop3 import Pop3Client
from tests.protocols.protocol_feed import EOF, MODES, drain, run

DOVECOT_GREETING = b"+OK Dovecot ready.\r\n"
DOVECOT_CAPA = b"+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nSTLS\r\n.\r\n"
DOVECOT_REFUSAL = "Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
EXCHANGE_GREETING = b"+OK The Microsoft Exchange POP3 service is ready.\r\n"


def greeted(greeting: bytes = DOVECOT_GREETING, **kwargs: int) -> Pop3Client:
    machine = Pop3Client(**kwargs)
    machine.receive_data(greeting)
    assert isinstance(machine.next_event(), Greeting)
    return machine


@pytest.mark.parametrize("mode", MODES)
def test_dovecot_refuses_user_in_clear(mode: str) -> None:
    steps = [
        (None, DOVECOT_GREETING),
        (lambda m: m.capa(), DOVECOT_CAPA),
        (lambda m: m.user("mailprobe-5c1d"), f"-ERR [AUTH] {DOVECOT_REFUSAL}\r\n".encode()),
        (lambda m: m.quit(), b"+OK Logging out.\r\n" + EOF),
    ]
    sent, events = run(Pop3Client(), steps, mode)

    assert sent == [b"CAPA\r\n", b"USER mailprobe-5c1d\r\n", b"QUIT\r\n"]
    assert events[0] == [Greeting("ok", "Dovecot ready.", None, None, "+OK Dovecot ready.")]
    (capa,) = events[1]
    body = ("CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "STLS")
    assert capa == Response(
        command="CAPA",
        status="ok",
        code=None,
        text="",
        untagged=body,
        capabilities=body,
        lines=("+OK", *body, "."),
    )
    assert not has_capability(capa.capabilities, "USER")
    assert events[2] == [
        Response("USER", "err", "AUTH", DOVECOT_REFUSAL, lines=(f"-ERR [AUTH] {DOVECOT_REFUSAL}",)),
    ]
    quit_, closed = events[3]
    assert (quit_.command, quit_.status, quit_.text) == ("QUIT", "ok", "Logging out.")
    assert closed == ConnectionClosed()


@pytest.mark.parametrize(
    ("login_type", "capa_lines"),
    [
        ("PlainTextLogin", ("TOP", "UIDL", "SASL NTLM GSSAPI PLAIN", "USER", "STLS")),
        ("PlainTextAuthentication", ("TOP", "UIDL", "SASL NTLM GSSAPI", "STLS")),
        ("SecureLogin", ("TOP", "UIDL", "STLS")),
    ],
)
@pytest.mark.parametrize("mode", MODES)
def test_exchange_capa_per_login_type(login_type: str, capa_lines: tuple[str, ...], mode: str) -> None:
    capa = ("+OK\r\n" + "".join(f"{line}\r\n" for line in capa_lines) + ".\r\n").encode()
    refusal = b"-ERR Command is not valid in this state.\r\n" if login_type != "PlainTextLogin" else b"+OK\r\n"
    steps = [(None, EXCHANGE_GREETING), (lambda m: m.capa(), capa), (lambda m: m.user("mailprobe-9"), refusal)]
    _, events = run(Pop3Client(), steps, mode)

    assert events[0][0].text == "The Microsoft Exchange POP3 service is ready."
    (answer,) = events[1]
    assert answer.capabilities == capa_lines
    assert has_capability(answer.capabilities, "USER") == (login_type == "PlainTextLogin")
    assert has_capability(answer.capabilities, "stls")
    (user,) = events[2]
    if login_type == "PlainTextLogin":
        assert (user.status, user.text) == ("ok", "")
    else:
        assert (user.status, user.code, user.text) == ("err", None, "Command is not valid in this state.")


@pytest.mark.parametrize("mode", MODES)
def test_capa_body_is_dot_unstuffed(mode: str) -> None:
    machine = greeted()
    _, events = run(machine, [(lambda m: m.capa(), b"+OK [XCODE] list follows\r\n..odd\r\n...\r\nUSER\r\n.\r\n")], mode)
    (answer,) = events[0]
    assert answer.untagged == (".odd", "..", "USER")
    assert (answer.code, answer.text) == ("XCODE", "list follows")
    assert answer.lines == ("+OK [XCODE] list follows", "..odd", "...", "USER", ".")


@pytest.mark.parametrize("mode", MODES)
def test_err_to_capa_is_single_line(mode: str) -> None:
    steps = [
        (None, DOVECOT_GREETING),
        (lambda m: m.capa(), b"-ERR Unknown command.\r\n"),
        (lambda m: m.user("u"), b"+OK\r\n"),
    ]
    _, events = run(Pop3Client(), steps, mode)
    assert events[1] == [Response("CAPA", "err", None, "Unknown command.", lines=("-ERR Unknown command.",))]
    assert events[2][0].status == "ok" and events[2][0].command == "USER"


@pytest.mark.parametrize(
    ("line", "status", "code", "text"),
    [
        (b"-ERR [SYS/TEMP] Too many connections, try later\r\n", "err", "SYS/TEMP", "Too many connections, try later"),
        (b"-ERR [AUTH] Authentication failed.\r\n", "err", "AUTH", "Authentication failed."),
        (b"+OK [IN-USE] odd but legal\r\n", "ok", "IN-USE", "odd but legal"),
        (b"-err lower case\n", "err", None, "lower case"),
        (b"-ERR\r\n", "err", None, ""),
    ],
)
def test_response_codes(line: bytes, status: str, code: str | None, text: str) -> None:
    machine = greeted()
    machine.pass_("pw")
    machine.receive_data(line)
    response = machine.next_event()
    assert (response.command, response.status, response.code, response.text) == ("PASS", status, code, text)


@pytest.mark.parametrize(
    ("data", "status", "code", "text"),
    [
        (b"-ERR [SYS/TEMP] Too many connections\r\n", "err", "SYS/TEMP", "Too many connections"),
        # Exchange AppendServerNameInBanner: the bracket at the end is not a response code.
        (
            EXCHANGE_GREETING[:-2] + b" [TQBCAFgA]\r\n",
            "ok",
            None,
            "The Microsoft Exchange POP3 service is ready. [TQBCAFgA]",
        ),
        (b"+OK <1896.697170952@dbc.mailcom> apop\r\n", "ok", None, "<1896.697170952@dbc.mailcom> apop"),
    ],
)
@pytest.mark.parametrize("mode", MODES)
def test_greetings(data: bytes, status: str, code: str | None, text: str, mode: str) -> None:
    _, events = run(Pop3Client(), [(None, data + EOF)], mode)
    greeting, closed = events[0]
    assert (greeting.status, greeting.code, greeting.text, greeting.capabilities) == (status, code, text, None)
    assert closed == ConnectionClosed()


NOT_POP3 = [
    b"HTTP/1.1 400 Bad Request\r\n\r\n",
    b"220 mail.example.com ESMTP Postfix\r\n",
    b"* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n",
    b"\x15\x03\x03\x00\x02\x02\x28",
    b"+OKAY\r\n",
    b"+ hello\r\n",
]


@pytest.mark.parametrize("data", NOT_POP3)
@pytest.mark.parametrize("mode", MODES)
def test_not_a_pop3_greeting(data: bytes, mode: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        run(Pop3Client(), [(None, data)], mode)
    assert caught.value.reason.startswith("not a POP3 greeting: ")
    assert data.startswith(caught.value.first_bytes) and caught.value.first_bytes


# -- SASL -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_auth_plain_continuation(mode: str) -> None:
    machine = greeted()
    assert machine.auth_plain("user", "pass") == b"AUTH PLAIN\r\n"
    _, events = run(machine, [(None, b"+ \r\n")], mode)
    assert events == [[Continuation(command="AUTH", text="", line="+ ")]]
    answer = machine.continuation(b"\0user\0pass")
    assert base64.b64decode(answer) == b"\0user\0pass" and answer.endswith(b"\r\n")
    _, events = run(machine, [(None, b"-ERR [AUTH] Authentication failed.\r\n")], mode)
    (response,) = events[0]
    assert (response.command, response.status, response.code) == ("AUTH", "err", "AUTH")
    assert response.lines == ("+ ", "-ERR [AUTH] Authentication failed.")


def test_auth_plain_initial_response_and_ok_is_not_a_continuation() -> None:
    machine = greeted()
    assert machine.auth_plain("user", "pass", initial_response=True) == b"AUTH PLAIN AHVzZXIAcGFzcw==\r\n"
    machine.receive_data(b"+OK Logged in.\r\n")
    response = machine.next_event()
    assert isinstance(response, Response) and response.status == "ok"


def test_continuation_outside_auth_is_a_protocol_error() -> None:
    machine = greeted()
    machine.user("u")
    machine.receive_data(b"+ \r\n")
    with pytest.raises(ProtocolError, match="not a POP3 reply to USER"):
        machine.next_event()


def test_continuation_cancel() -> None:
    machine = greeted()
    machine.auth_plain("u", "p")
    machine.receive_data(b"+ \r\n")
    machine.next_event()
    assert machine.continuation_cancel() == b"*\r\n"
    with pytest.raises(LocalProtocolError):
        machine.continuation(b"x")


# -- STLS --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["whole", "bytes"])
@pytest.mark.parametrize("injected", [b"", b"+OK injected\r\nTOP\r\n", b"-ERR"])
def test_stls_window(mode: str, injected: bytes) -> None:
    machine = greeted()
    assert machine.stls() == b"STLS\r\n"
    _, events = run(machine, [(None, b"+OK Begin TLS negotiation now.\r\n" + injected)], mode)
    assert [(e.command, e.status) for e in events[0]] == [("STLS", "ok")]
    assert machine.next_event() is NEED_DATA
    with pytest.raises(LocalProtocolError):
        machine.capa()
    assert machine.take_unprocessed() == injected
    machine.tls_started()
    assert machine.tls_active
    assert machine.capa() == b"CAPA\r\n"
    machine.receive_data(b"+OK\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n")
    assert machine.next_event().capabilities == ("USER", "SASL PLAIN LOGIN")


def test_stls_refused() -> None:
    machine = greeted()
    machine.stls()
    machine.receive_data(b"-ERR TLS support isn't enabled.\r\n")
    assert machine.next_event().status == "err"
    assert not machine.awaiting_tls and not machine.tls_active
    with pytest.raises(LocalProtocolError):
        machine.take_unprocessed()


# -- limits and EOF ---------------------------------------------------------------------------------------------------
def test_endless_capa_body() -> None:
    machine = greeted()
    machine.capa()
    machine.receive_data(b"+OK\r\n" + b"X-FOREVER\r\n" * 998)
    assert machine.next_event() is NEED_DATA  # 999 lines so far
    machine.receive_data(b"X-FOREVER\r\n" * 2)
    with pytest.raises(ProtocolError, match="more than 1000 lines") as caught:
        machine.next_event()
    assert caught.value.first_bytes == b"+OK"


def test_capa_line_without_end() -> None:
    machine = greeted()
    machine.capa()
    machine.receive_data(b"+OK\r\nSASL " + b"PLAIN " * 1400)
    with pytest.raises(ProtocolError, match="line too long"):
        machine.next_event()


def test_custom_reply_line_limit() -> None:
    machine = greeted(max_reply_lines=3)
    machine.capa()
    machine.receive_data(b"+OK\r\nTOP\r\nUSER\r\n.\r\n")
    with pytest.raises(ProtocolError, match="more than 3 lines"):
        machine.next_event()


def test_eof_in_the_middle_of_capa() -> None:
    machine = greeted()
    machine.capa()
    machine.receive_data(b"+OK\r\nTOP\r\nUS")
    machine.receive_data(b"")
    assert drain(machine) == [ConnectionClosed(partial=b"US")]
    assert machine.next_event() == ConnectionClosed(partial=b"US")


def test_one_command_at_a_time_and_arguments() -> None:
    machine = greeted()
    machine.user("u")
    for command in (lambda: machine.pass_("p"), machine.capa, machine.quit, lambda: machine.auth_plain("u", "p")):
        with pytest.raises(LocalProtocolError, match="USER is still outstanding"):
            command()
    machine.receive_data(b"+OK\r\n")
    machine.next_event()
    with pytest.raises(LocalProtocolError):
        machine.pass_("p\r\nDELE 1")
    assert machine.pass_("pass with spaces") == b"PASS pass with spaces\r\n"
