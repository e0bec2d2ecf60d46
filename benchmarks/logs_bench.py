"""Benchmark of `mailprobe logs`: generate a ~1 GB mixed log in a temp dir, analyse it, print lines/s and peak RSS.

    python benchmarks/logs_bench.py [--size-mb 1024] [--keep DIR]

The mix: a Dovecot mail.log with Postfix and mail-process noise (about 1 line in 8 is a login line), a gzip part,
and Exchange 2013+ IMAP4/POP3 front-end protocol logs (most rows are ordinary commands). The analyser runs in a
child process so the peak RSS is its own; it is measured at a quarter of the size as well, to show memory is flat.
"""

from __future__ import annotations

import argparse
import gzip
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DOVECOT_LINES = (
    "{ts} mx1 postfix/smtpd[{pid}]: connect from unknown[198.51.100.{a}]",
    "{ts} mx1 postfix/smtpd[{pid}]: disconnect from unknown[198.51.100.{a}] ehlo=1 mail=1 rcpt=1 data=1 quit=1",
    "{ts} mx1 postfix/qmgr[{pid}]: 4B1F2C{pid}: from=<user{a}@example.org>, size={pid}, nrcpt=1 (queue active)",
    "{ts} mx1 dovecot: imap(user{a}@example.org)<{pid}><sess{pid}>: Logged out in={a} out={pid} deleted=0",
    "{ts} mx1 dovecot: lmtp({pid}): Connect from local",
    "{ts} mx1 dovecot: imap-login: Disconnected (no auth attempts in 0 secs): user=<>, rip=203.0.113.{a}, "
    "lip=192.0.2.10, TLS, session=<q{pid}>",
    "{ts} mx1 postfix/smtp[{pid}]: 4B1F2C{pid}: to=<x{a}@example.net>, relay=none, delay=0.1, status=sent",
    "{ts} mx1 dovecot: imap-login: Login: user=<user{a}@example.org>, method=PLAIN, rip=203.0.113.{a}, "
    "lip=192.0.2.10, mpid={pid}, TLS, session=<s{pid}>",
    "{ts} mx1 dovecot: pop3-login: Login: user=<user{a}@example.org>, method=PLAIN, rip=198.51.100.{a}, "
    "lip=192.0.2.10, mpid={pid}, session=<p{pid}>",
    "{ts} mx1 dovecot: imap-login: Disconnected: Connection closed (tried to use disallowed plaintext auth): "
    "user=<>, rip=198.51.100.{a}, lip=192.0.2.10, session=<r{pid}>",
)
DOVECOT_WEIGHTS = (20, 20, 15, 15, 10, 5, 10, 3, 1, 1)
EXCHANGE_HEADER = (
    "#Software: Microsoft Exchange Server\n#Version: 15.0.0.0\n#Log-type: IMAP4 Protocol Log\n"
    "#Date: 2025-06-10T00:00:00.000Z\n"
    "#Fields: dateTime,sessionId,seqNumber,sIp,cIp,user,duration,rqsize,rpsize,command,parameters,context,puid\n"
)
EXCHANGE_SESSION = (
    "2025-06-10T09:{m:02d}:{s:02d}.{ms:03d}Z,{sid:016X},0,192.0.2.20:{port},198.51.100.{a}:{cport},,1,0,53,"
    "OpenSession,,,\n"
    "2025-06-10T09:{m:02d}:{s:02d}.{ms:03d}Z,{sid:016X},1,192.0.2.20:{port},198.51.100.{a}:{cport},,1,13,158,"
    "capability,,R=OK,\n"
    "2025-06-10T09:{m:02d}:{s:02d}.{ms:03d}Z,{sid:016X},2,192.0.2.20:{port},198.51.100.{a}:{cport},user{a},205,48,"
    "24,login,user{a}@example.org *****,R=OK,\n"
    + "".join(
        "2025-06-10T09:{m:02d}:{s:02d}.{ms:03d}Z,{sid:016X}," + str(i) + ",192.0.2.20:{port},198.51.100.{a}:{cport},"
        "user{a},3,30,900," + cmd + "\n"
        for i, cmd in enumerate(
            (
                "select,INBOX,R=OK;Rows=12,",
                "fetch,1:12 (FLAGS UID),R=OK;Rows=12,",
                "idle,,R=OK,",
                "uid,FETCH 13 (BODY.PEEK[]),R=OK;Rows=1,",
                "noop,,R=OK,",
                "fetch,1:* (FLAGS),R=OK;Rows=13,",
            ),
            start=3,
        )
    )  # fmt: skip
    + "2025-06-10T09:{m:02d}:{s:02d}.{ms:03d}Z,{sid:016X},9,192.0.2.20:{port},198.51.100.{a}:{cport},user{a},0,0,0,"
    "CloseSession,,,\n"
)


def _block_dovecot(rng: random.Random, lines: int) -> str:
    out = []
    for _ in range(lines):
        template = rng.choices(DOVECOT_LINES, DOVECOT_WEIGHTS)[0]
        h, m, s = rng.randrange(24), rng.randrange(60), rng.randrange(60)
        out.append(template.format(ts=f"Jun 10 {h:02d}:{m:02d}:{s:02d}", pid=rng.randrange(1000, 99999),
                                   a=rng.randrange(1, 255)))  # fmt: skip
    return "\n".join(out) + "\n"


def _block_exchange(rng: random.Random, sessions: int, first_sid: int) -> str:
    out = []
    for n in range(sessions):
        out.append(EXCHANGE_SESSION.format(m=rng.randrange(60), s=rng.randrange(60), ms=rng.randrange(1000),
                                           sid=first_sid + n, port=rng.choice((143, 993, 993, 993)),
                                           a=rng.randrange(1, 255), cport=rng.randrange(1024, 65535)))  # fmt: skip
    return "".join(out)


def generate(directory: Path, size_mb: int) -> None:
    """Write the mixed log set: repeated pseudo-random blocks, so generation stays fast."""
    rng = random.Random(8)
    target = size_mb * 1024 * 1024
    dovecot_block = _block_dovecot(rng, 20000).encode()
    exchange_blocks = [_block_exchange(rng, 2000, i * 2000).encode() for i in range(4)]
    shares = {"mail.log": 0.55, "IMAP420250610-1.LOG": 0.40}
    with open(directory / "mail.log", "wb") as out:
        while out.tell() < target * shares["mail.log"]:
            out.write(dovecot_block)
    with open(directory / "IMAP420250610-1.LOG", "wb") as out:
        out.write(EXCHANGE_HEADER.encode())
        i = 0
        while out.tell() < target * shares["IMAP420250610-1.LOG"]:
            out.write(exchange_blocks[i % len(exchange_blocks)])
            i += 1
    with gzip.open(directory / "mail.log.1.gz", "wb", compresslevel=1) as out:
        for _ in range(max(1, int(target * 0.05 / len(dovecot_block)))):
            out.write(dovecot_block)


CHILD = """
import resource, sys, time
sys.path.insert(0, {root!r})
from scanner.logs.analyser import analyse
t = time.perf_counter()
report = analyse([{path!r}])
elapsed = time.perf_counter() - t
print(report.lines, elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, len(report.rows),
      sum(r.insecure_logins for r in report.rows), report.malformed)
"""


def measure(path: Path) -> tuple[int, float, int, int, int, int]:
    out = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT), path=str(path))],
                         check=True, capture_output=True, text=True).stdout.split()  # fmt: skip
    lines, elapsed, rss_kb, rows, insecure, malformed = out
    return int(lines), float(elapsed), int(rss_kb), int(rows), int(insecure), int(malformed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--keep", metavar="DIR", help="generate into DIR and keep it")
    args = parser.parse_args()
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="mailprobe-logs-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        results = []
        for fraction in (4, 1):
            directory = base / f"set-{fraction}"
            directory.mkdir(exist_ok=True)
            t = time.perf_counter()
            generate(directory, args.size_mb // fraction)
            size = sum(f.stat().st_size for f in directory.iterdir())
            gen = time.perf_counter() - t
            lines, elapsed, rss_kb, rows, insecure, malformed = measure(directory)
            results.append((size, lines, elapsed, rss_kb))
            print(f"{size / 1e6:8.0f} MB on disk (generated in {gen:.1f} s): {lines:,} lines in {elapsed:.2f} s = "
                  f"{lines / elapsed:,.0f} lines/s, {size / 1e6 / elapsed:,.0f} MB/s; "
                  f"peak RSS {rss_kb / 1024:.1f} MiB; "
                  f"{rows} clients, {insecure:,} insecure logins, {malformed} malformed")  # fmt: skip
        small, big = results
        print(f"memory: peak RSS {small[3] / 1024:.1f} MiB at {small[0] / 1e6:.0f} MB vs {big[3] / 1024:.1f} MiB at "
              f"{big[0] / 1e6:.0f} MB")  # fmt: skip
        print(f"target 500,000 lines/s: {'met' if big[1] / big[2] >= 500_000 else 'NOT met'}")
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
