"""A real Dovecot writes its log; `mailprobe logs` must attribute exactly the logins the test made.

Clients connect from 127.0.0.1 to private instances on 127.0.0.x (tests/dovecot.py), with the instances' own
random test accounts: cleartext and TLS logins on the plaintext_allowed set-up, refused cleartext attempts on the
plaintext_refused one, and one login from the server's own address (which Dovecot treats as secured).
"""

from __future__ import annotations

import imaplib
import json
import poplib
import re
import socket
import ssl

import pytest

from tests.logs.logs_cli import logs_main

pytestmark = pytest.mark.dovecot

CLIENT = "127.0.0.1"
TIMEOUT = 10.0


def _tls_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the harness's throwaway certificate; this test is about the log, not trust
    return ctx


def _connect(host: str, port: int, source: str, implicit_tls: bool) -> socket.socket:
    sock = socket.create_connection((host, port), TIMEOUT, source_address=(source, 0))
    return _tls_context().wrap_socket(sock) if implicit_tls else sock


class Imap(imaplib.IMAP4):
    def __init__(self, host: str, port: int, source: str = CLIENT, implicit_tls: bool = False) -> None:
        self._source, self._implicit = source, implicit_tls
        super().__init__(host, port, timeout=TIMEOUT)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return _connect(self.host, self.port, self._source, self._implicit)


class Pop(poplib.POP3):
    def __init__(self, host: str, port: int, source: str = CLIENT, implicit_tls: bool = False) -> None:
        self._source, self._implicit = source, implicit_tls
        super().__init__(host, port, timeout=TIMEOUT)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return _connect(self.host, self.port, self._source, self._implicit)


def imap_login(dv, user, *, starttls: bool = False, implicit: bool = False, source: str = CLIENT) -> bool:
    port = dv.ports.imaps if implicit else dv.ports.imap
    with Imap(dv.address, port, source=source, implicit_tls=implicit) as imap:
        if starttls:
            imap.starttls(_tls_context())
        try:
            imap.login(user.name, user.password)
        except imaplib.IMAP4.error:
            return False
        imap.logout()
        return True


def pop_login(dv, user, *, stls: bool = False, implicit: bool = False) -> bool:
    pop = Pop(dv.address, dv.ports.pop3s if implicit else dv.ports.pop3, implicit_tls=implicit)
    try:
        if stls:
            pop.stls(_tls_context())
        pop.user(user.name)
        pop.pass_(user.password)
        return True
    except poplib.error_proto:
        return False
    finally:
        pop.quit() if pop.sock else None


def wait_lines(dv, pattern: str, count: int) -> None:
    """Dovecot's log process writes a little later than the reply: wait for ``count`` matching lines."""
    import time

    deadline = time.monotonic() + 10
    while len(re.findall(pattern, dv.read_log())) < count:
        assert time.monotonic() < deadline, f"expected {count} x {pattern!r} in:\n{dv.read_log()}"
        time.sleep(0.05)


def run_logs(capsys, *argv: str) -> list[dict]:
    capsys.readouterr()
    assert logs_main([*argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def logs(dovecot_factory, tmp_path):
    """Log files of two fresh instances after a known set of logins, copied before the harness deletes them."""
    allowed = dovecot_factory("plaintext_allowed")
    refused = dovecot_factory("plaintext_refused")
    clear_user, tls_user = allowed.users

    assert imap_login(allowed, clear_user)  # insecure: LOGIN in clear on 143
    assert pop_login(allowed, clear_user)  # insecure: USER/PASS in clear on 110
    assert imap_login(allowed, tls_user, starttls=True)  # secure: STARTTLS first
    assert pop_login(allowed, tls_user, stls=True)  # secure: STLS first
    assert imap_login(allowed, clear_user, implicit=True)  # secure: 993
    assert pop_login(allowed, tls_user, implicit=True)  # secure: 995
    wait_lines(allowed, r"-login: (?:\w+: )?Login: ", 6)

    assert not imap_login(refused, refused.users[0])  # refused: cleartext LOGIN on 143
    assert not pop_login(refused, refused.users[0])  # refused: cleartext USER/PASS on 110
    wait_lines(refused, r"-login: (?:\w+: )?Disconnected", 2)

    paths = {}
    for name, dv in (("allowed", allowed), ("refused", refused)):
        paths[name] = tmp_path / f"{name}.log"
        paths[name].write_text(dv.read_log())
    return paths, allowed, refused


def test_logins_are_attributed_to_the_client_and_user(logs, capsys):
    paths, allowed, refused = logs
    clear_user, tls_user = allowed.users
    rows = run_logs(capsys, str(paths["allowed"]), str(paths["refused"]))

    assert [row["address"] for row in rows] == [CLIENT]  # nothing attributed to the server or anyone else
    row = rows[0]
    assert row["insecure_logins"] == 2
    assert row["insecure_users"] == [clear_user.name]
    assert row["secure_logins"] == 4
    assert row["refused_attempts"] == 2
    assert row["insecure_failed_logins"] == 0 and row["unverified_logins"] == 0
    assert sorted(row["users"]) == sorted([clear_user.name, tls_user.name, refused.users[0].name])
    assert row["protocols"] == ["imap", "pop3"]
    assert "loopback" in row["labels"] and "server-own-address" not in row["labels"]
    kinds = {e["kind"] for e in row["evidence"]}
    assert {"insecure", "refused", "secure"} <= kinds
    for e in row["evidence"]:
        if e["kind"] == "insecure":
            assert clear_user.name in e["line"] and "TLS" not in e["line"]
        if e["kind"] == "secure":
            assert "TLS" in e["line"]


def test_per_user_view_separates_the_cleartext_user(logs, capsys):
    paths, allowed, _ = logs
    clear_user, tls_user = allowed.users
    rows = {row["user"]: row for row in run_logs(capsys, str(paths["allowed"]), "--by", "user")}

    assert rows[clear_user.name]["insecure_logins"] == 2
    assert rows[clear_user.name]["secure_logins"] == 1
    assert rows[clear_user.name]["addresses"] == [CLIENT]
    assert rows[tls_user.name]["insecure_logins"] == 0
    assert rows[tls_user.name]["secure_logins"] == 3
    assert next(iter(rows)) == clear_user.name  # the user to fix comes first


def test_login_from_the_servers_own_address_is_labelled(dovecot_factory, tmp_path, capsys):
    dv = dovecot_factory("plaintext_refused")
    user = dv.users[0]
    # Dovecot counts rip == lip as secured, so even with plaintext refused this cleartext login succeeds.
    assert imap_login(dv, user, source=dv.address)
    wait_lines(dv, r"-login: (?:\w+: )?Login: ", 1)
    path = tmp_path / "own.log"
    path.write_text(dv.read_log())

    rows = run_logs(capsys, str(path))
    assert [row["address"] for row in rows] == [dv.address]
    row = rows[0]
    assert row["insecure_logins"] == 0 and row["secure_logins"] == 0
    assert row["unverified_logins"] == 1
    assert "server-own-address" in row["labels"]
    assert any("own address" in note for note in row["notes"])
