"""The protocol dialects: what each one says for a step of the probe, driven by scripted server replies."""

from __future__ import annotations

import asyncio
from pathlib import Path

from scanner.probe.dialects import DummyCredentials, dialect_for
from scanner.protocols.events import NEED_DATA, Continuation, Response

ROOT = Path(__file__).resolve().parents[2]
CREDS = DummyCredentials("mailprobe-u", "secret-pw")


class Scripted:
    """An ``ask`` that feeds the machine one scripted server reply per command and records what was sent."""

    def __init__(self, machine, greeting: bytes, replies: list[bytes]) -> None:
        self.machine = machine
        self.replies = list(replies)
        self.sent: list[bytes] = []
        if greeting:
            machine.receive_data(greeting)
            assert machine.next_event() is not NEED_DATA

    async def __call__(self, command: bytes, sasl: tuple[bytes, ...]) -> Response:
        payloads = list(sasl)
        self.sent.append(command)
        while True:
            event = self.machine.next_event()
            if event is NEED_DATA:
                self.machine.receive_data(self.replies.pop(0))
                continue
            if isinstance(event, Continuation):
                answer = self.machine.continuation(payloads.pop(0)) if payloads else self.machine.continuation_cancel()
                self.sent.append(answer)
                continue
            assert isinstance(event, Response)
            return event


def run(coro):
    return asyncio.run(coro)


def test_imap_mechanisms_follow_the_advertised_capabilities():
    imap = dialect_for("imap")
    assert imap.login_mechanisms(("IMAP4rev1", "STARTTLS")) == ["LOGIN"]
    assert imap.login_mechanisms(("IMAP4rev1", "auth=plain")) == ["LOGIN", "AUTHENTICATE PLAIN"]
    assert imap.offers_starttls(("IMAP4rev1", "starttls"))
    assert not imap.offers_starttls(("IMAP4rev1", "STLS"))


def test_pop3_mechanisms_follow_the_advertised_capabilities():
    pop3 = dialect_for("pop3")
    assert pop3.login_mechanisms(("USER", "STLS")) == ["USER/PASS"]
    assert pop3.login_mechanisms(("SASL LOGIN PLAIN",)) == ["USER/PASS", "AUTH PLAIN"]
    assert pop3.offers_starttls(("STLS",))
    assert not pop3.offers_starttls(("STARTTLS",))


def test_imap_capabilities_fall_back_to_the_greeting_code():
    imap = dialect_for("imap")
    machine = imap.new_machine()
    machine.receive_data(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n")
    greeting = machine.next_event()
    ask = Scripted(machine, b"", [b"a1 BAD not now\r\n"])
    assert run(imap.read_capabilities(machine, ask, greeting)) == ("IMAP4rev1", "STARTTLS")


def test_pop3_user_refused_stops_before_the_password():
    pop3 = dialect_for("pop3")
    machine = pop3.new_machine()
    ask = Scripted(machine, b"+OK ready\r\n", [b"-ERR [AUTH] Plaintext authentication disallowed\r\n"])
    answer = run(pop3.login(machine, ask, "USER/PASS", CREDS))
    assert (answer.stage, answer.response.status, answer.response.code) == ("USER", "err", "AUTH")
    assert not any(b"secret-pw" in line for line in ask.sent)


def test_pop3_user_then_pass():
    pop3 = dialect_for("pop3")
    machine = pop3.new_machine()
    ask = Scripted(machine, b"+OK ready\r\n", [b"+OK\r\n", b"-ERR [AUTH] Authentication failed.\r\n"])
    answer = run(pop3.login(machine, ask, "USER/PASS", CREDS))
    assert answer.stage == "PASS" and ask.sent == [b"USER mailprobe-u\r\n", b"PASS secret-pw\r\n"]


def test_imap_authenticate_plain_answers_the_challenge_once():
    imap = dialect_for("imap")
    machine = imap.new_machine()
    ask = Scripted(machine, b"* OK ready\r\n", [b"+ \r\n", b"a1 NO [AUTHENTICATIONFAILED] failed\r\n"])
    answer = run(imap.login(machine, ask, "AUTHENTICATE PLAIN", CREDS))
    assert answer.response.code == "AUTHENTICATIONFAILED"
    assert ask.sent == [b"a1 AUTHENTICATE PLAIN\r\n", b"AG1haWxwcm9iZS11AHNlY3JldC1wdw==\r\n"]


def test_the_probe_does_not_switch_on_protocol_machines():
    # The probe's control flow asks the dialect; naming a protocol machine there would bring the switch back.
    source = (ROOT / "scanner" / "probe" / "conversation.py").read_text()
    for name in ("ImapClient", "Pop3Client", "scanner.protocols.imap", "scanner.protocols.pop3", '== "imap"'):
        assert name not in source
