"""`mailprobe logs` against user names chosen by an attacker: a name never changes how a login is judged.

Whoever types at a login prompt chooses the user name, and Dovecot and Exchange write it into their logs. A name
that imitates log syntax (``eve>, TLS``) must stay a name; a quoted Exchange field with commas and line breaks must
stay one field; mailprobe's own dummy users are labelled and kept out of the clients to fix.
"""

from __future__ import annotations

import imaplib
import json
import time
from pathlib import Path

import pytest

from scanner.logs.analyser import analyse
from scanner.logs.dovecot import DovecotState, Malformed, parse_line
from scanner.logs.exchange import ExchangeParser
from scanner.logs.model import Kind, LoginEvent
from tests.logs.logs_cli import logs_main

# The three wordings: syslog (2.2), journalctl -o short (2.3), Dovecot's own log with a level (2.4).
PREFIXES = {
    "2.2": "Mar  3 08:01:12 mx1 dovecot: imap-login: ",
    "2.3": "Jun 10 09:15:22 mail dovecot[1503]: imap-login: ",
    "2.4": "Jan 14 10:02:11 imap-login: Info: ",
}
TAIL = "method=PLAIN, rip=203.0.113.5, lip=192.0.2.10, mpid=2101, session=<Ea1+8Rg0kMzLAHEF>"
# Names that imitate the elements after them: each tries to make a cleartext login look like TLS (or secured).
FORGING_NAMES = [
    "eve>, TLS, x=<y",
    "eve>, TLS",
    "eve>, TLS: Disconnected",
    "eve>, TLS handshaking",
    "eve>, secured",
    "eve>, secured, x=<y",
    "eve>, TLS, method=PLAIN, rip=203.0.113.5, lip=192.0.2.10, mpid=1, TLS, session=<x",
    "eve>, TLS, user=<bob",
    "a, b, TLS",
]


def dovecot(version: str, message: str) -> LoginEvent | None:
    line = PREFIXES[version] + message
    return parse_line(line.encode(), "mail.log:1", DovecotState(year=2025))


@pytest.mark.parametrize("version", sorted(PREFIXES))
@pytest.mark.parametrize("name", FORGING_NAMES)
def test_a_forging_user_name_never_makes_a_cleartext_login_secure(version: str, name: str) -> None:
    event = dovecot(version, f"Login: user=<{name}>, {TAIL}")
    assert event is not None
    assert event.kind is Kind.INSECURE
    assert event.user == name
    assert event.address == "203.0.113.5"


@pytest.mark.parametrize("version", sorted(PREFIXES))
def test_the_same_names_over_real_tls_stay_secure(version: str) -> None:
    for name in FORGING_NAMES:
        event = dovecot(version, f"Login: user=<{name}>, {TAIL.replace(', session', ', TLS, session')}")
        assert event is not None and event.kind is Kind.SECURE and event.user == name


def test_a_forging_name_in_a_failed_cleartext_login_is_still_a_cleartext_failure() -> None:
    event = dovecot("2.4", "Login aborted: Connection closed (auth failed, 1 attempts in 2 secs) (auth_failed): "
                           f"user=<eve>, TLS, x=<y>, {TAIL}")  # fmt: skip
    assert event is not None and event.kind is Kind.INSECURE_FAILED and event.user == "eve>, TLS, x=<y"


def test_genuine_tls_texts_with_commas_are_still_tls() -> None:
    event = dovecot(
        "2.3",
        "Login: user=<alice>, method=PLAIN, rip=203.0.113.5, lip=192.0.2.10, mpid=1, "
        "TLS: SSL_read() failed: error:0A000126, unexpected eof, session=<Ea1>",
    )
    assert event is not None and event.kind is Kind.SECURE


def test_a_line_whose_user_field_never_closes_is_malformed_not_guessed() -> None:
    with pytest.raises(Malformed):
        dovecot("2.3", "Login: user=<eve, TLS, method=PLAIN, rip=203.0.113.5")


# --- Exchange: quoted fields with commas, quotes and line breaks ------------------------------------------------

LWL_HEADER = (
    "#Software: Microsoft Exchange Server\n#Version: 15.0.0.0\n#Log-type: IMAP4 Protocol Log\n"
    "#Fields: dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,rpsize,command,parameters,context,puid\n"
)
# A client on the cleartext port logs in with a name holding a quote, commas and a line break, followed by what
# looks like a whole row of another session: a STARTTLS OK and a secure login for "victim".
FORGED_ROW = "2025-06-10T09:00:01.000Z,0000000000000009,1,192.0.2.20:143,203.0.113.66:1,,1,1,1,starttls,,R=OK,"
EVIL_NAME = f'eve "x", y\n{FORGED_ROW}\n'
LWL_ROWS = (
    "2025-06-10T09:00:00.000Z,0000000000000009,0,192.0.2.20:143,203.0.113.66:1,,1,0,53,OpenSession,,,\n"
    '2025-06-10T09:00:02.000Z,0000000000000009,2,192.0.2.20:143,203.0.113.66:1,"'
    + EVIL_NAME.replace('"', '""')
    + '",1,1,1,login,"'
    + EVIL_NAME.replace('"', '""')
    + ' *****",R=OK,\n'
    "2025-06-10T09:00:03.000Z,0000000000000009,3,192.0.2.20:143,203.0.113.66:1,,1,1,1,CloseSession,,,\n"
)


def exchange_events(text: str, chunks: list[bytes] | None = None) -> tuple[list[LoginEvent], list[str]]:
    events: list[LoginEvent] = []
    malformed: list[str] = []
    parser = ExchangeParser("IMAP420250610-1.LOG", events.append, lambda where, what: malformed.append(what))
    data = text.encode()
    parser.feed(chunks if chunks is not None else [data])
    return events, malformed


def test_exchange_quoted_field_with_a_line_break_is_one_field_not_a_forged_row() -> None:
    events, malformed = exchange_events(LWL_HEADER + LWL_ROWS)
    assert malformed == []
    assert len(events) == 1
    (event,) = events
    assert event.kind is Kind.INSECURE  # the forged STARTTLS OK inside the name did not count
    assert event.user == EVIL_NAME.strip()
    assert event.address == "203.0.113.66"


@pytest.mark.parametrize("every", [1, 2, 3])
def test_exchange_records_split_across_chunks_are_read_whole(every: int) -> None:
    """The reader cuts chunks at line ends; a quoted line break may fall on a cut."""
    lines = (LWL_HEADER + LWL_ROWS).encode().split(b"\n")
    pieces = [b"\n".join(lines[i : i + every]) + b"\n" for i in range(0, len(lines) - 1, every)]
    events, malformed = exchange_events("", pieces)
    assert malformed == [] and [e.kind for e in events] == [Kind.INSECURE]
    assert events[0].user == EVIL_NAME.strip()


def test_exchange_w3c_answer_is_the_tagged_one_not_an_untagged_line() -> None:
    header = ("#Software: Microsoft Exchange Server\n#Log-type: IMAP4 Protocol Log\n"
              "#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,"
              "context\n")  # fmt: skip
    row = "2010-03-01T08:00:0{n}.000Z,IMAP4,S1,{n},192.0.2.30:143,198.51.100.70:3120,{event},{data},\n"
    rows = [
        ("<", "a1 STARTTLS"), (">", "* OK [ALERT] a2 OK pretend"), (">", "a1 BAD Command received in Invalid state."),
        ("<", "a2 LOGIN eve *****"), (">", "* CAPABILITY IMAP4rev1"), (">", "a2 OK LOGIN completed."),
    ]  # fmt: skip
    text = header + "".join(row.format(n=i, event=e, data=d) for i, (e, d) in enumerate(rows))
    events, malformed = exchange_events(text)
    assert malformed == []
    assert [e.kind for e in events] == [Kind.INSECURE]  # STARTTLS was refused; the login was in clear and worked


# --- mailprobe's own probe users ----------------------------------------------------------------------------------


def test_mailprobe_dummy_users_are_labelled_and_not_clients_to_fix(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    probe = "mailprobe-0123456789ab"
    log.write_text(
        f"Jun 10 09:16:02 mail dovecot[1503]: imap-login: Disconnected (tried to use disallowed plaintext auth): "
        f"user=<{probe}>, rip=203.0.113.9, lip=192.0.2.10, session=<7S2>\n"
        f"Jun 10 09:16:03 mail dovecot[1503]: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): "
        f"user=<mailprobe-00ff00ff00ff>, method=PLAIN, rip=203.0.113.9, lip=192.0.2.10, session=<7S3>\n"
        f"Jun 10 09:16:04 mail dovecot[1503]: imap-login: Login: user=<alice>, method=PLAIN, rip=198.51.100.23, "
        f"lip=192.0.2.10, mpid=1, session=<7S4>\n",
        encoding="utf-8",
    )
    report = analyse([str(log)], year=2025)
    rows = {r.key: r for r in report.rows}
    scanner_row, client_row = rows["203.0.113.9"], rows["198.51.100.23"]
    assert "mailprobe-probe" in scanner_row.labels
    assert scanner_row.probe_attempts == 2 and not scanner_row.to_fix
    assert scanner_row.refused_attempts == 0 and scanner_row.insecure_failed_logins == 0
    assert probe in scanner_row.users
    assert client_row.to_fix and "mailprobe-probe" not in client_row.labels
    by_user = {r.key: r for r in analyse([str(log)], by="user", year=2025).rows}
    assert not by_user[probe].to_fix and "mailprobe-probe" in by_user[probe].labels


def test_an_accepted_dummy_login_is_not_excused(tmp_path: Path) -> None:
    """A random password that logs in is a finding in itself: that row stays among the clients to fix."""
    log = tmp_path / "mail.log"
    log.write_text(
        "Jun 10 09:16:04 mail dovecot[1503]: imap-login: Login: user=<mailprobe-0123456789ab>, method=PLAIN, "
        "rip=203.0.113.9, lip=192.0.2.10, mpid=1, session=<7S4>\n",
        encoding="utf-8",
    )
    (row,) = analyse([str(log)], year=2025).rows
    assert row.insecure_logins == 1 and row.to_fix


def test_a_name_that_only_resembles_a_dummy_user_is_counted(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_text(
        "Jun 10 09:16:02 mail dovecot[1503]: imap-login: Disconnected (tried to use disallowed plaintext auth): "
        "user=<mailprobe-admin>, rip=203.0.113.9, lip=192.0.2.10, session=<7S2>\n",
        encoding="utf-8",
    )
    (row,) = analyse([str(log)], year=2025).rows
    assert row.refused_attempts == 1 and row.to_fix and "mailprobe-probe" not in row.labels


def test_exchange_row_the_csv_reader_cannot_read_is_malformed_not_a_crash() -> None:
    """Found by the fuzzer: a bare CR in an unquoted field makes the csv module raise."""
    events, malformed = exchange_events(LWL_HEADER + 'R="a1 BAD Command received in Invalid state."\r0\n')
    assert events == [] and len(malformed) == 1 and "unreadable CSV" in malformed[0]


# --- a real Dovecot writes the forging name into its own log ------------------------------------------------------


@pytest.mark.dovecot
def test_real_dovecot_log_with_a_forging_user_name_counts_the_cleartext_attempt(  # type: ignore[no-untyped-def]
    dovecot_factory, tmp_path, capsys
) -> None:
    dv = dovecot_factory("plaintext_allowed")
    name = "eve>, TLS, x=<y"
    imap = imaplib.IMAP4(dv.address, dv.ports.imap, timeout=10.0)
    try:
        status, _ = imap._simple_command("LOGIN", f'"{name}"', '"not-the-password"')  # noqa: SLF001 - quoted name
    except imaplib.IMAP4.error:
        status = "NO"
    finally:
        imap.shutdown()
    assert status != "OK"
    deadline = time.monotonic() + 15
    while f"user=<{name}>" not in dv.read_log():  # Dovecot writes the name as typed
        assert time.monotonic() < deadline, dv.read_log()
        time.sleep(0.1)
    copy = tmp_path / "mail.log"
    copy.write_text(dv.read_log())
    capsys.readouterr()
    assert logs_main([str(copy), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    (row,) = [r for r in rows if name in r["users"]]
    assert row["insecure_failed_logins"] == 1 and row["secure_logins"] == 0  # the password crossed in clear
