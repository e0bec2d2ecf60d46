"""`mailprobe logs FILE...`: find the clients that still log in without TLS, from Exchange and Dovecot logs."""

from __future__ import annotations

import argparse
import sys

from scanner.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "logs",
        help="find clients that log in without TLS, from POP3/IMAP logs",
        description="Read Exchange POP3/IMAP4 protocol logs and Dovecot logs (syslog, journalctl -o short, "
        "Dovecot's log file; plain or gzip; directories walked) and report, per client address, insecure "
        "(cleartext) logins, refused cleartext attempts and secure logins, clients to fix first.",
        epilog="example: mailprobe logs /var/log/mail.log* --format json -o clients.json",
    )
    parser.add_argument("paths", nargs="+", metavar="FILE", help="log file or directory")
    parser.add_argument("--format", choices=("table", "json", "csv"), default="table", help="default: table")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    parser.add_argument("--by", choices=("address", "user"), default="address", help="one row per (default address)")
    parser.add_argument(
        "--tls-port",
        type=_port,
        action="append",
        default=[],
        metavar="PORT",
        help="Exchange: another implicit-TLS port besides 993/995 (repeatable)",
    )
    parser.add_argument(
        "--year",
        type=_year,
        metavar="YYYY",
        help="year of syslog timestamps, which carry none (default: from each file's date)",
    )
    parser.add_argument("--tui", action="store_true", help="browse the table in the terminal UI")
    parser.set_defaults(func=run)


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"not a port: {text!r}")
    return int(text)


def _year(text: str) -> int:
    if not text.isdigit() or not 1990 <= int(text) <= 2999:
        raise argparse.ArgumentTypeError(f"not a year: {text!r}")
    return int(text)


def run(args: argparse.Namespace) -> int:
    from scanner.logs.analyser import Missing, analyse
    from scanner.logs.exchange import IMPLICIT_TLS_PORTS
    from scanner.logs.output import footer, render

    try:
        report = analyse(
            args.paths,
            by=args.by,
            tls_ports=IMPLICIT_TLS_PORTS | frozenset(args.tls_port),
            year=args.year,
        )
    except Missing as exc:
        raise UsageError(f"no such file or directory: {exc}") from None
    if args.tui:
        from scanner.tui.logs_app import LogsApp

        LogsApp(report).run()
        return 0
    text = render(report, args.format)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as out:
                out.write(text)
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror}") from None
        for line in footer(report):
            print(line, file=sys.stderr)
    else:
        sys.stdout.write(text)
        if args.format != "table":
            for line in footer(report):
                print(line, file=sys.stderr)
    return 0
