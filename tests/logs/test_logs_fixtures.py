"""`mailprobe logs` on the sample logs in fixtures/logs: each format and version, judged line by line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from scanner.logs.analyser import analyse, detect
from scanner.logs.dovecot import DovecotState, Malformed, parse_line
from scanner.logs.model import Kind
from tests.logs.logs_cli import logs_main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "logs"
DOVECOT = FIXTURES / "dovecot"
EXCHANGE = FIXTURES / "exchange"


def rows_of(*paths: Path, by: str = "address") -> dict[str, object]:
    report = analyse([str(p) for p in paths], by=by, year=2025)
    return {row.key: row for row in report.rows}


def counts(row) -> tuple[int, int, int, int, int]:
    return (row.insecure_logins, row.insecure_failed_logins, row.refused_attempts, row.secure_logins,
            row.unverified_logins)  # fmt: skip


@pytest.mark.parametrize(
    ("line", "kind", "user", "address"),
    [
        ("Mar  3 08:01:12 mx1 dovecot: imap-login: Login: user=<alice>, method=PLAIN, rip=203.0.113.5, "
         "lip=192.0.2.10, mpid=4242, TLS, session=<v2Rj>", Kind.SECURE, "alice", "203.0.113.5"),
        ("Mar  3 08:02:40 mx1 dovecot: pop3-login: Login: user=<bob>, method=PLAIN, rip=198.51.100.23, "
         "lip=192.0.2.10, mpid=4250, session=<k1Aa>", Kind.INSECURE, "bob", "198.51.100.23"),
        ("Jun 10 09:18:20 mail dovecot[1503]: imap-login: Login: user=<zoe>, method=PLAIN, rip=203.0.113.5, "
         "lip=192.0.2.10, mpid=1590, TLS: Disconnected, session=<DY8>", Kind.SECURE, "zoe", "203.0.113.5"),
        ("Jun 10 09:16:02 mail dovecot[1503]: imap-login: Disconnected: Connection closed (tried to use disallowed "
         "plaintext auth): user=<>, rip=198.51.100.40, lip=192.0.2.10, session=<7S2>", Kind.REFUSED, "",
         "198.51.100.40"),
        ("Jan 14 10:02:40 imap-login: Info: Login aborted: Logged out (tried to use disallowed cleartext auth) "
         "(disallowed_cleartext_auth): user=<>, rip=198.51.100.40, lip=192.0.2.10, session=<Fb2>", Kind.REFUSED, "",
         "198.51.100.40"),
        ("Nov 24 16:06:59 imap-login: Info: Login failed: Plaintext authentication disabled: user=<>, rip=127.0.0.1, "
         "lip=127.0.0.180, session=</MR8>", Kind.REFUSED, "", "127.0.0.1"),
        ("Mar  3 08:04:20 mx1 dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<erin>, "
         "method=PLAIN, rip=198.51.100.23, lip=192.0.2.10, session=<c8X>", Kind.INSECURE_FAILED, "erin",
         "198.51.100.23"),
        ("Mar  3 08:04:00 mx1 dovecot: imap-login: Login: user=<dave>, method=LOGIN, rip=192.0.2.10, lip=192.0.2.10, "
         "mpid=4260, secured, session=<m1B>", Kind.UNVERIFIED, "dave", "192.0.2.10"),
        ("2025-06-10T09:15:40.123456+00:00 mail dovecot[1503]: imap-login: Login: user=<a, b>, method=PLAIN, "
         "rip=2001:db8::5, lip=2001:db8::10, mpid=1, session=<x>", Kind.INSECURE, "a, b", "2001:db8::5"),
    ],
)  # fmt: skip
def test_dovecot_line_judgement(line: str, kind: Kind, user: str, address: str) -> None:
    event = parse_line(line.encode(), "t:1", DovecotState(year=2025))
    assert event is not None
    assert (event.kind, event.user, event.address) == (kind, user, address)
    assert event.line == line


def test_dovecot_irrelevant_and_damaged_lines() -> None:
    state = DovecotState(year=2025)
    quiet = (b"Mar  3 08:04:50 mx1 dovecot: imap-login: Disconnected (no auth attempts in 0 secs): user=<>, "
             b"rip=203.0.113.99, lip=192.0.2.10, TLS, session=<a>")  # fmt: skip
    assert parse_line(quiet, "t:1", state) is None
    for damaged in (
        b"Mar  3 08:05:10 mx1 dovecot: imap-login: Login: user=<alice>, method=PL",  # cut before rip=
        b"Jun 10 09:19:30 mail dovecot[1503]: imap-login: Login: user=<bob@exa",
        b"Jun 10 09:19:30 mail dovecot[1503]: imap-login: Login: user=<bob>, rip=198.51.100.1, \xff\xfe TLS",
        b"garbage imap-login: Login: user=<bob>, rip=198.51.100.1, lip=192.0.2.10",
    ):
        with pytest.raises(Malformed):
            parse_line(damaged, "t:3", state)


def test_dovecot_versions_end_to_end() -> None:
    rows = rows_of(DOVECOT)
    # bob: cleartext POP3 (2 in 2.2, 1 in 2.4) and IMAP (2.3) logins; erin's cleartext failures; TLS in 2.3 and 2.4
    assert counts(rows["198.51.100.23"]) == (4, 3, 0, 2, 0)
    assert rows["198.51.100.23"].insecure_users == ("bob", "bob@example.org", "erin", "erin@example.org")
    assert counts(rows["198.51.100.40"]) == (0, 0, 3, 0, 0)  # one refused IMAP attempt per version
    assert counts(rows["198.51.100.41"]) == (0, 0, 3, 0, 0)
    assert "carol@example.org" in rows["198.51.100.41"].users
    assert counts(rows["203.0.113.5"]) == (0, 0, 0, 5, 0)
    assert counts(rows["10.20.30.40"]) == (1, 0, 0, 0, 0) and "private" in rows["10.20.30.40"].labels
    # "secured" without TLS: never reported as secure or insecure, and labelled
    assert counts(rows["192.0.2.10"]) == (0, 0, 0, 0, 1) and "server-own-address" in rows["192.0.2.10"].labels
    assert counts(rows["127.0.0.1"]) == (0, 0, 0, 0, 1) and "loopback" in rows["127.0.0.1"].labels
    assert counts(rows["10.20.30.41"]) == (0, 0, 0, 0, 1)
    assert any("login_trusted_networks" in n for n in rows["10.20.30.41"].notes)
    assert "203.0.113.99" not in rows  # a TLS connection without any login decides nothing
    keys = list(rows)
    assert keys.index("198.51.100.23") < keys.index("198.51.100.40") < keys.index("203.0.113.5")


def test_dovecot_malformed_lines_counted_with_sample() -> None:
    report = analyse([str(DOVECOT)], year=2025)
    per_file = {Path(f.path).name: f.malformed for f in report.files}
    assert per_file == {"dovecot-2.4.log": 2, "journal-2.3.txt": 1, "mail.log-2.2": 2}
    assert report.malformed == 5 and len(report.malformed_samples) == 5
    assert any("journal-2.3.txt:13" in s for s in report.malformed_samples)


def test_syslog_timestamps_get_the_year() -> None:
    rows = rows_of(DOVECOT / "journal-2.3.txt")
    assert rows["198.51.100.23"].first_seen == "2025-06-10T09:15:40"
    assert rows["198.51.100.23"].last_seen == "2025-06-10T09:17:30"


def test_exchange_front_end_2013_layout() -> None:
    rows = rows_of(EXCHANGE / "IMAP420250610-1.LOG")
    bob = rows["198.51.100.23"]
    assert counts(bob) == (2, 1, 0, 0, 0)  # LOGIN and AUTHENTICATE PLAIN on 143; erin's failure in clear
    assert bob.users == ("bob", "erin@example.org")
    assert counts(rows["198.51.100.50"]) == (0, 0, 0, 1, 0)  # STARTTLS before LOGIN
    assert counts(rows["203.0.113.5"]) == (0, 0, 0, 1, 0)  # 993; its failed login over TLS is not counted
    assert counts(rows["198.51.100.40"]) == (0, 0, 1, 0, 0)  # two BAD Invalid state in one session: one attempt
    ntlm = rows["10.1.2.3"]
    assert counts(ntlm) == (1, 0, 0, 0, 0) and "SecureLogin" in ntlm.evidence[0].note
    assert bob.first_seen == "2025-06-10T09:02:10" and bob.last_seen == "2025-06-10T09:09:00"
    assert any("port 143" in e.note for e in bob.evidence)


def test_exchange_back_end_is_not_attributed() -> None:
    report = analyse([str(EXCHANGE / "IMAP4BE20250610-1.LOG")])
    assert report.rows == ()
    assert any("back-end" in n for n in report.notes)


def test_exchange_gzip_pop3() -> None:
    rows = rows_of(EXCHANGE / "POP320250610-1.LOG.gz")
    assert counts(rows["198.51.100.23"]) == (1, 0, 0, 0, 0)
    assert rows["198.51.100.23"].users == ("bob",) and rows["198.51.100.23"].protocols == ("pop3",)
    assert counts(rows["198.51.100.50"]) == (0, 0, 0, 1, 0)  # STLS first
    assert counts(rows["203.0.113.5"]) == (0, 0, 0, 1, 0)  # 995
    assert counts(rows["198.51.100.41"]) == (0, 0, 1, 0, 0)  # USER and PASS refused: one attempt


def test_exchange_2010_layout() -> None:
    report = analyse([str(EXCHANGE / "POP320100301-1.LOG")])
    rows = {r.key: r for r in report.rows}
    assert report.files[0].format == "exchange-w3c"
    assert counts(rows["198.51.100.70"]) == (1, 0, 0, 0, 0) and rows["198.51.100.70"].users == ("dan",)
    assert counts(rows["198.51.100.71"]) == (0, 0, 0, 1, 0)
    assert counts(rows["198.51.100.72"]) == (0, 0, 1, 0, 0)
    assert counts(rows["203.0.113.8"]) == (0, 0, 0, 1, 0)
    assert report.malformed == 1


def test_format_detection_and_gzip_dovecot(tmp_path: Path) -> None:
    assert detect((EXCHANGE / "IMAP420250610-1.LOG").read_bytes()) == "exchange"
    assert detect((DOVECOT / "mail.log-2.2").read_bytes()) == "dovecot"
    assert detect(bytes(range(256)) * 10) == "unknown"
    packed = tmp_path / "mail.log.2.gz"
    packed.write_bytes(gzip.compress((DOVECOT / "mail.log-2.2").read_bytes()))
    assert counts(rows_of(packed)["198.51.100.23"]) == counts(rows_of(DOVECOT / "mail.log-2.2")["198.51.100.23"])


def test_cli_json_has_the_promised_fields(capsys) -> None:
    assert logs_main([str(FIXTURES), "--format", "json", "--year", "2025"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    needed = {"address", "insecure_logins", "refused_attempts", "secure_logins", "users", "protocols",
              "first_seen", "last_seen", "evidence"}  # fmt: skip
    assert all(needed <= row.keys() for row in rows)
    assert rows[0]["address"] == "198.51.100.23"  # most insecure logins first
    fix = [r["insecure_logins"] + r["refused_attempts"] + r["insecure_failed_logins"] > 0 for r in rows]
    assert fix == sorted(fix, reverse=True)  # every client to fix before any other
    assert "malformed lines skipped" in captured.err


def test_cli_csv_table_by_user_and_output_file(tmp_path: Path, capsys) -> None:
    out = tmp_path / "report.csv"
    assert logs_main([str(EXCHANGE), "--format", "csv", "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("address,labels,insecure_logins")
    assert lines[1].startswith("198.51.100.23,")
    capsys.readouterr()
    assert logs_main([str(EXCHANGE), "--by", "user"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:3] == ["USER", "INSECURE", "FAILED-CLEAR"]
    assert table.splitlines()[1].split()[0] == "bob"


def test_missing_file_is_a_usage_error(tmp_path: Path, capsys) -> None:
    assert logs_main([str(tmp_path / "nope.log")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mailprobe: error: no such file") and err.count("\n") == 1
