"""Issue 22: a failed login is slowed on purpose, and the more so after each failure from the same address. Dovecot
puts its auth penalty (2, 4, 8, then 15 s) on top of its 2 s failure delay, so from the fourth failure on a login
answer takes about 17 s: longer than the reply timeout (measured here, scan by scan: 2.0, 6.0, 9.6, 16.7, 17.0,
16.5 s, ..., back to 6 and 2 s once the penalty lapses, and up again). The login answer has its own deadline that
covers it, so twenty scans back to back, as a cron job or an impatient admin runs them, keep their verdicts.

The scans are `mailprobe scan` itself, of a private Dovecot with the penalty on (the other tests switch it off),
with --confirm-over-tls so that each scan adds one failed login per port: the refused set-up fails no login
otherwise. Twenty scans take about six minutes, almost all of it the server's deliberate delay."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.dovecot import DovecotInstance

pytestmark = pytest.mark.dovecot

SCANS = 20
REPLY_TIMEOUT_MS = 5_000  # mailprobe scan's reply timeout: --timeout (5 s), at least 5 s
TLS_LOGIN = re.compile(r"over TLS: \w+ .* after (\d+) ms")


def scan(dovecot: DovecotInstance) -> dict[int, dict]:
    ports = f"{dovecot.ports.pop3},{dovecot.ports.imap}"
    args = [sys.executable, "-m", "scanner", "scan", dovecot.address, "-p", ports, "--source-address", "127.0.0.1",
            "--confirm-over-tls", "--no-legacy-tls", "--format", "json"]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode in (0, 1), done.stderr  # 1: the test certificate is self-signed
    return {row["port"]: row for row in json.loads(done.stdout)["results"]}  # --format json: {scan, results}


def test_twenty_back_to_back_scans_of_a_real_dovecot_keep_their_verdicts(dovecot_factory) -> None:
    dovecot = dovecot_factory("plaintext_refused", auth_penalty=True)
    waits: list[list[int]] = []
    for number in range(1, SCANS + 1):
        rows = scan(dovecot)
        found = []
        for port in (dovecot.ports.pop3, dovecot.ports.imap):
            login = rows[port]["plaintext_login"]
            assert login["verdict"] == "refused", (number, port, login["evidence"])
            assert rows[port]["starttls"] == "ok", (number, port, rows[port]["error"])
            found += [int(ms) for line in login["evidence"] for ms in TLS_LOGIN.findall(line)]
        assert len(found) == 2, (number, found)  # each port's login over TLS was answered, not timed out
        waits.append(found)
    print("\nlogin answers over TLS, ms (POP3, IMAP), scan by scan:", waits)
    # The penalty was there: answers came well after the reply timeout (it grows 2, 4, 8, 15 s on top of the 2 s
    # failure delay, and falls back once a while has passed since the last failure), within the login deadline.
    beyond = [ms for scan_waits in waits for ms in scan_waits if ms > REPLY_TIMEOUT_MS]
    assert len(beyond) >= 8 and max(beyond) > 3 * REPLY_TIMEOUT_MS, waits
