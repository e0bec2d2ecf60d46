"""ImapClient against the wording of real servers (Dovecot 2.3, Exchange 2013), fed whole, byte by byte and glued."""

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
from scanner.protocols.imap import ImapClient
from scanner.protocols.lines import has_capability
from tests.protocols.protocol_feed import EOF, MODES, drain, run

DOVECOT_CAPS = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED"
DOVECOT_GREETING = f"* OK [CAPABILITY {DOVECOT_CAPS}] Dovecot ready.\r\n".encode()
DOVECOT_ALERT = (
    "* BAD [ALERT] Plaintext authentication not allowed without SSL/TLS, but your client did it anyway. "
    "If anyone was listening, the password was exposed."
)
DOVECOT_REFUSAL = "a2 NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
EXCHANGE_GREETING = b"* OK The Microsoft Exchange IMAP4 service is ready.\r\n"
EXCHANGE_CAPS = (
    "IMAP4 IMAP4rev1 LOGINDISABLED STARTTLS SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+"
)
DOVECOT_PRELOGIN = "a1 OK Pre-login capabilities listed, post-login capabilities have more."


def greeted(greeting: bytes = DOVECOT_GREETING, **kwargs: int) -> ImapClient:
    machine = ImapClient(**kwargs)
    machine.receive_data(greeting)
    assert isinstance(machine.next_event(), Greeting)
    return machine


# -- whole conversations, three ways ----------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_dovecot_refuses_login_in_clear(mode: str) -> None:
    steps = [
        (None, DOVECOT_GREETING),
        (
            lambda m: m.capability(),
            f"* CAPABILITY {DOVECOT_CAPS}\r\n{DOVECOT_PRELOGIN}\r\n".encode(),
        ),
        (lambda m: m.login("mailprobe-1f2e", "x9Yq"), f"{DOVECOT_ALERT}\r\n{DOVECOT_REFUSAL}\r\n".encode()),
        (lambda m: m.logout(), b"* BYE Logging out\r\na3 OK Logout completed.\r\n" + EOF),
    ]
    sent, events = run(ImapClient(), steps, mode)

    assert sent == [b"a1 CAPABILITY\r\n", b'a2 LOGIN "mailprobe-1f2e" "x9Yq"\r\n', b"a3 LOGOUT\r\n"]
    (greeting,) = events[0]
    assert greeting == Greeting(
        status="ok",
        text="Dovecot ready.",
        code=f"CAPABILITY {DOVECOT_CAPS}",
        capabilities=tuple(DOVECOT_CAPS.split()),
        line=DOVECOT_GREETING.decode().rstrip("\r\n"),
    )
    (caps,) = events[1]
    assert caps.status == "ok" and caps.command == "CAPABILITY"
    assert caps.capabilities == tuple(DOVECOT_CAPS.split())
    (login,) = events[2]
    assert login == Response(
        command="LOGIN",
        status="no",
        code="PRIVACYREQUIRED",
        text="Plaintext authentication disallowed on non-secure (SSL/TLS) connections.",
        untagged=(DOVECOT_ALERT,),
        capabilities=None,
        lines=(DOVECOT_ALERT, DOVECOT_REFUSAL),
    )
    logout, closed = events[3]
    assert (logout.command, logout.status, logout.untagged) == ("LOGOUT", "ok", ("* BYE Logging out",))
    assert closed == ConnectionClosed(partial=b"")


@pytest.mark.parametrize("mode", MODES)
def test_exchange_secure_login_answers_bad_invalid_state(mode: str) -> None:
    steps = [
        (None, EXCHANGE_GREETING),
        (lambda m: m.capability(), f"* CAPABILITY {EXCHANGE_CAPS}\r\na1 OK CAPABILITY completed.\r\n".encode()),
        (lambda m: m.login("mailprobe-77", "pw"), b"a2 BAD Command received in Invalid state.\r\n"),
        (lambda m: m.authenticate_plain("mailprobe-77", "pw", True), b"a3 BAD Command received in Invalid state.\r\n"),
    ]
    sent, events = run(ImapClient(), steps, mode)

    assert events[0] == [
        Greeting("ok", "The Microsoft Exchange IMAP4 service is ready.", None, None, EXCHANGE_GREETING.decode()[:-2])
    ]
    assert has_capability(events[1][0].capabilities, "logindisabled")
    assert not has_capability(events[1][0].capabilities, "AUTH=PLAIN")
    for step, command in ((2, "LOGIN"), (3, "AUTHENTICATE")):
        (answer,) = events[step]
        assert (answer.command, answer.status, answer.code, answer.text) == (
            command,
            "bad",
            None,
            "Command received in Invalid state.",
        )
    assert sent[2] == b"a3 AUTHENTICATE PLAIN " + base64.b64encode(b"\0mailprobe-77\0pw") + b"\r\n"


@pytest.mark.parametrize("mode", MODES)
def test_bye_instead_of_tagged_reply(mode: str) -> None:
    steps = [
        (None, EXCHANGE_GREETING),
        (lambda m: m.login("u", "p"), b"* BYE Connection closed. 14\r\n" + EOF),
    ]
    machine = ImapClient()
    _, events = run(machine, steps, mode)
    bye, closed = events[1]
    assert bye == Response(
        command="LOGIN",
        status="bye",
        code=None,
        text="Connection closed. 14",
        untagged=("* BYE Connection closed. 14",),
        lines=("* BYE Connection closed. 14",),
    )
    assert closed == ConnectionClosed()
    assert machine.next_event() == ConnectionClosed()  # stays closed
    with pytest.raises(LocalProtocolError):
        machine.capability()


@pytest.mark.parametrize("mode", MODES)
def test_authenticate_plain_continuation(mode: str) -> None:
    machine = greeted()
    assert machine.authenticate_plain("user", "pass") == b"a1 AUTHENTICATE PLAIN\r\n"
    _, events = run(machine, [(None, b"+ \r\n")], mode)
    assert events == [[Continuation(command="AUTHENTICATE", text="", line="+ ")]]

    answer = machine.continuation(b"\0user\0pass")
    assert answer == b"AHVzZXIAcGFzcw==\r\n"
    assert base64.b64decode(answer.strip()) == b"\0user\0pass"
    with pytest.raises(LocalProtocolError):
        machine.continuation(b"again")  # only one answer per request

    _, events = run(machine, [(None, b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")], mode)
    (response,) = events[0]
    assert (response.status, response.code, response.text) == ("no", "AUTHENTICATIONFAILED", "Authentication failed.")
    assert response.lines == ("+ ", "a1 NO [AUTHENTICATIONFAILED] Authentication failed.")


def test_continuation_cancel_and_misuse() -> None:
    machine = greeted()
    with pytest.raises(LocalProtocolError):
        machine.continuation(b"x")  # nothing outstanding
    machine.authenticate_plain("u", "p")
    with pytest.raises(LocalProtocolError):
        machine.continuation(b"x")  # no "+" yet
    machine.receive_data(b"+ \r\n")
    assert isinstance(machine.next_event(), Continuation)
    assert machine.continuation_cancel() == b"*\r\n"
    machine.receive_data(b"a1 BAD Authentication aborted by client.\r\n")
    assert machine.next_event().status == "bad"


def test_authenticate_plain_initial_response_is_sasl_ir() -> None:
    machine = greeted()
    assert machine.authenticate_plain("user", "pass", initial_response=True) == (
        b"a1 AUTHENTICATE PLAIN AHVzZXIAcGFzcw==\r\n"
    )


# -- greetings --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "status", "code", "text", "capabilities"),
    [
        (
            b"* PREAUTH [CAPABILITY IMAP4rev1] Logged in as bob\r\n",
            "preauth",
            "CAPABILITY IMAP4rev1",
            "Logged in as bob",
            ("IMAP4rev1",),
        ),
        (b"* BYE [UNAVAILABLE] Too many connections\r\n", "bye", "UNAVAILABLE", "Too many connections", None),
        (
            b"* ok [capability imap4rev1 Auth=Plain] hi\r\n",
            "ok",
            "capability imap4rev1 Auth=Plain",
            "hi",
            ("imap4rev1", "Auth=Plain"),
        ),
        (b"* OK\r\n", "ok", None, "", None),
        (b"* OK caf\xc3\xa9 \xff ready\n", "ok", None, "caf\u00e9 \ufffd ready", None),  # bare LF, bad UTF-8
    ],
)
@pytest.mark.parametrize("mode", MODES)
def test_greetings(
    data: bytes, status: str, code: str | None, text: str, capabilities: tuple[str, ...] | None, mode: str
) -> None:
    _, events = run(ImapClient(), [(None, data + EOF)], mode)
    greeting, closed = events[0]
    assert (greeting.status, greeting.code, greeting.text, greeting.capabilities) == (status, code, text, capabilities)
    assert closed == ConnectionClosed()


def test_capabilities_keep_case_but_compare_case_insensitively() -> None:
    machine = greeted(b"* OK [CAPABILITY IMAP4rev1 auth=plain StartTLS] hi\r\n")
    assert machine.greeting is not None
    assert machine.greeting.capabilities == ("IMAP4rev1", "auth=plain", "StartTLS")
    assert has_capability(machine.greeting.capabilities, "AUTH=PLAIN")
    assert has_capability(machine.greeting.capabilities, "STARTTLS")
    assert not has_capability(machine.greeting.capabilities, "LOGINDISABLED")


def test_capability_code_in_tagged_ok_fills_capabilities() -> None:
    machine = greeted()
    machine.login("u", "p")
    machine.receive_data(b"a1 OK [CAPABILITY IMAP4rev1 SORT THREAD=REFS] Logged in\r\n")
    response = machine.next_event()
    assert response.capabilities == ("IMAP4rev1", "SORT", "THREAD=REFS")
    assert response.code == "CAPABILITY IMAP4rev1 SORT THREAD=REFS"


NOT_IMAP = [
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
    b"220 mail.example.com ESMTP Postfix\r\n",
    b"+OK Dovecot ready.\r\n",
    b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
    b"\x15\x03\x01\x00\x02\x02\x46",  # a TLS alert: a TLS-only port spoken to in clear
    b"\x00\x01\x02\x03" * 40,
    b"* OKAY fine\r\n",
    b"* NO go away\r\n",
]


@pytest.mark.parametrize("data", NOT_IMAP)
@pytest.mark.parametrize("mode", MODES)
def test_not_an_imap_greeting(data: bytes, mode: str) -> None:
    machine = ImapClient()
    with pytest.raises(ProtocolError) as caught:
        run(machine, [(None, data)], mode)
    assert caught.value.reason.startswith("not an IMAP greeting: ")
    assert data.startswith(caught.value.first_bytes)
    assert 0 < len(caught.value.first_bytes) <= 64
    if mode == "whole":
        assert caught.value.first_bytes == data[:64]
    with pytest.raises(ProtocolError):  # the machine stays failed
        machine.next_event()


def test_http_reason_is_readable() -> None:
    machine = ImapClient()
    machine.receive_data(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    with pytest.raises(ProtocolError, match=r"not an IMAP greeting: 'HTTP/1.1 400 Bad Request'"):
        machine.next_event()


def test_garbage_is_rejected_without_waiting_for_a_line_end() -> None:
    machine = ImapClient()
    machine.receive_data(b"\x16\x03")
    with pytest.raises(ProtocolError):
        machine.next_event()


def test_eof_before_greeting() -> None:
    machine = ImapClient()
    machine.receive_data(b"* OK half a gree")
    assert machine.next_event() is NEED_DATA
    machine.receive_data(b"")
    assert machine.next_event() == ConnectionClosed(partial=b"* OK half a gree")
    assert machine.next_event() == ConnectionClosed(partial=b"* OK half a gree")


# -- literals ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_literal_is_part_of_its_line(mode: str) -> None:
    # The literal holds a CRLF and text that looks like our tagged reply: it must not end the reply.
    literal = b"x\r\na1 OK fake\r\n"
    server = b'* ID ("name" {%d}\r\n%s "version" "2.3")\r\na1 OK done\r\n' % (len(literal), literal)
    machine = greeted()
    _, events = run(machine, [(lambda m: m.capability(), server)], mode)
    (response,) = events[0]
    assert response.text == "done"
    assert response.untagged == ('* ID ("name" {15}\r\nx\r\na1 OK fake\r\n "version" "2.3")',)
    assert response.lines == (response.untagged[0], "a1 OK done")


def test_literal_larger_than_the_reply_limit() -> None:
    machine = greeted(max_reply_bytes=1000)
    machine.capability()
    machine.receive_data(b"* X {5000}\r\n")
    with pytest.raises(ProtocolError, match="literal of 5000 bytes"):
        machine.next_event()


def test_eof_inside_a_literal() -> None:
    machine = greeted()
    machine.capability()
    machine.receive_data(b"* X {10}\r\nabc")
    assert machine.next_event() is NEED_DATA
    machine.receive_data(b"")
    assert machine.next_event() == ConnectionClosed(partial=b"* X {10}\r\nabc")


# -- limits -----------------------------------------------------------------------------------------------------------
def test_line_without_end_is_refused_as_soon_as_it_passes_max_line() -> None:
    machine = ImapClient(max_line=100)
    machine.receive_data(b"* OK " + b"a" * 95)  # exactly 100 bytes: still a plausible line
    assert machine.next_event() is NEED_DATA
    machine.receive_data(b"a")
    with pytest.raises(ProtocolError, match="line too long") as caught:
        machine.next_event()
    assert caught.value.first_bytes == (b"* OK " + b"a" * 95)[:64]


@pytest.mark.parametrize("mode", ["whole", "bytes"])
def test_default_max_line_8192(mode: str) -> None:
    machine = greeted()
    machine.capability()
    with pytest.raises(ProtocolError, match="line too long"):
        run(machine, [(None, b"* " + b"A" * 9000 + b"\r\n")], mode)


def test_complete_line_too_long() -> None:
    machine = greeted(b"* OK ready\r\n", max_line=50)
    machine.capability()
    machine.receive_data(b"* CAPABILITY " + b"X" * 60 + b"\r\na1 OK\r\n")
    with pytest.raises(ProtocolError, match="line too long"):
        machine.next_event()


def test_endless_reply_by_line_count() -> None:
    machine = greeted()
    machine.capability()
    machine.receive_data(b"* OK still going\r\n" * 999)
    assert machine.next_event() is NEED_DATA  # 999 lines: fine so far
    machine.receive_data(b"* OK still going\r\n" * 2)
    with pytest.raises(ProtocolError, match="more than 1000 lines") as caught:
        machine.next_event()
    assert caught.value.first_bytes == b"* OK still going"


def test_endless_reply_by_size() -> None:
    machine = greeted()
    machine.capability()
    line = b"* OK " + b"z" * 8000 + b"\r\n"
    with pytest.raises(ProtocolError, match="larger than 262144 bytes"):
        for _ in range(40):
            machine.receive_data(line)
            assert machine.next_event() is NEED_DATA


def test_flood_without_reading_events_keeps_memory_bounded() -> None:
    machine = greeted()
    machine.capability()
    for _ in range(200):  # 12.8 MB offered, never parsed
        machine.receive_data(b"* OK " + b"z" * 64_000)
    assert len(machine._buffer) <= 256 * 1024 + 8192
    with pytest.raises(ProtocolError):
        machine.next_event()


# -- STARTTLS ---------------------------------------------------------------------------------------------------------
INJECTED = b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n"


@pytest.mark.parametrize("mode", ["whole", "bytes"])
@pytest.mark.parametrize("injected", [b"", INJECTED, b"partial without line end"])
def test_starttls_window(mode: str, injected: bytes) -> None:
    machine = greeted()
    assert machine.starttls() == b"a1 STARTTLS\r\n"
    _, events = run(machine, [(None, b"a1 OK Begin TLS negotiation now.\r\n" + injected)], mode)
    assert [(e.command, e.status) for e in events[0]] == [("STARTTLS", "ok")]
    assert machine.awaiting_tls and not machine.tls_active
    assert machine.next_event() is NEED_DATA  # nothing is parsed before the handshake
    with pytest.raises(LocalProtocolError):
        machine.capability()

    assert machine.take_unprocessed() == injected
    assert machine.take_unprocessed() == b""
    assert machine.tls_started() == b""
    assert machine.tls_active and not machine.awaiting_tls

    # Over TLS: no new greeting, the next command continues the tag sequence.
    assert machine.capability() == b"a2 CAPABILITY\r\n"
    machine.receive_data(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\na2 OK Pre-login capabilities listed.\r\n")
    assert machine.next_event().capabilities == ("IMAP4rev1", "AUTH=PLAIN")


def test_tls_started_discards_unread_plaintext() -> None:
    machine = greeted()
    machine.starttls()
    machine.receive_data(b"a1 OK Begin TLS negotiation now.\r\n" + INJECTED)
    assert machine.next_event().status == "ok"
    assert machine.tls_started() == INJECTED  # returned for the report, never parsed
    machine.capability()
    machine.receive_data(b"a2 OK done\r\n")
    response = machine.next_event()
    assert response.untagged == () and response.capabilities is None


def test_starttls_refused_keeps_the_plain_session() -> None:
    machine = greeted()
    machine.starttls()
    machine.receive_data(b"a1 BAD STARTTLS not available\r\n")
    assert machine.next_event().status == "bad"
    assert not machine.awaiting_tls
    with pytest.raises(LocalProtocolError):
        machine.take_unprocessed()
    with pytest.raises(LocalProtocolError):
        machine.tls_started()
    assert machine.logout() == b"a2 LOGOUT\r\n"


def test_eof_in_the_tls_window() -> None:
    machine = greeted()
    machine.starttls()
    machine.receive_data(b"a1 OK Begin TLS negotiation now.\r\n")
    machine.next_event()
    machine.receive_data(b"")
    assert machine.next_event() == ConnectionClosed()


def test_implicit_tls_still_expects_a_greeting() -> None:
    machine = ImapClient()
    assert machine.tls_started() == b""
    assert machine.tls_active
    with pytest.raises(LocalProtocolError):
        machine.capability()
    machine.receive_data(DOVECOT_GREETING)
    assert isinstance(machine.next_event(), Greeting)
    with pytest.raises(LocalProtocolError):
        machine.tls_started()  # not after data


# -- command rules ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("user", "password", "expected"),
    [
        ("mailprobe-ab12", "s3cret", b'a1 LOGIN "mailprobe-ab12" "s3cret"\r\n'),
        ('we"ird', "back\\slash", b'a1 LOGIN "we\\"ird" "back\\\\slash"\r\n'),
        ("", 'a b"\\', b'a1 LOGIN "" "a b\\"\\\\"\r\n'),
        ("j\u00fcrgen", "p", b'a1 LOGIN "j\xc3\xbcrgen" "p"\r\n'),
    ],
)
def test_login_quoting(user: str, password: str, expected: bytes) -> None:
    assert greeted().login(user, password) == expected


@pytest.mark.parametrize("bad", ["a\r\nb", "a\nb", "a\0b"])
def test_login_refuses_line_breaking_arguments(bad: str) -> None:
    machine = greeted()
    with pytest.raises(LocalProtocolError):
        machine.login(bad, "p")
    with pytest.raises(LocalProtocolError):
        machine.authenticate_plain("u", bad, initial_response=True)
    assert machine.outstanding is None  # a refused command leaves nothing outstanding
    assert machine.capability() == b"a1 CAPABILITY\r\n"


@pytest.mark.parametrize(
    "second",
    [
        lambda m: m.capability(),
        lambda m: m.starttls(),
        lambda m: m.login("u", "p"),
        lambda m: m.authenticate_plain("u", "p"),
        lambda m: m.logout(),
    ],
)
def test_one_command_at_a_time(second) -> None:  # type: ignore[no-untyped-def]
    machine = greeted()
    machine.capability()
    with pytest.raises(LocalProtocolError, match="CAPABILITY is still outstanding"):
        second(machine)
    machine.receive_data(b"a1 OK done\r\n")
    machine.next_event()
    assert second(machine).startswith(b"a2 ")


def test_command_before_greeting() -> None:
    machine = ImapClient()
    with pytest.raises(LocalProtocolError):
        machine.capability()
    machine.receive_data(DOVECOT_GREETING)  # received but not yet pulled as an event
    with pytest.raises(LocalProtocolError):
        machine.capability()


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"a7 OK wrong tag\r\n", "expected tag a1"),
        (b"a1 MAYBE\r\n", "tagged reply without OK/NO/BAD"),
        (b"+ go ahead\r\n", "unexpected continuation"),
    ],
)
def test_protocol_violations_in_a_reply(reply: bytes, message: str) -> None:
    machine = greeted()
    machine.login("u", "p")
    machine.receive_data(reply)
    with pytest.raises(ProtocolError, match=message):
        machine.next_event()


def test_eof_drains_complete_lines_first() -> None:
    machine = greeted()
    machine.capability()
    machine.receive_data(b"* CAPABILITY IMAP4rev1\r\na1 OK done\r\n* BYE Connection closed. 14\r\npart")
    machine.receive_data(b"")
    events = drain(machine)
    assert [type(e) for e in events] == [Response, ConnectionClosed]
    assert events[0].capabilities == ("IMAP4rev1",)
    # Nothing was outstanding for the unsolicited BYE: it is handed over raw with the partial line.
    assert events[1] == ConnectionClosed(partial=b"* BYE Connection closed. 14\r\npart")


def test_eof_without_reply_and_without_bye() -> None:
    machine = greeted()
    machine.login("u", "p")
    machine.receive_data(b"* BAD [ALERT] no\r\nhalf")
    machine.receive_data(b"")
    assert drain(machine) == [ConnectionClosed(partial=b"half")]
    with pytest.raises(LocalProtocolError):
        machine.receive_data(b"late")
