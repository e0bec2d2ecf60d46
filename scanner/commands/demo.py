"""`mailprobe demo`: start the bundled demo servers on loopback and scan them (in the TUI on a terminal)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys

from scanner.scan.scheduler import Scan


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="scan bundled demo servers on 127.0.0.2-9 (no network needed)",
        description="Start eight local fake servers that behave like real deployments (Exchange SecureLogin and "
        "PlainTextLogin, Dovecot with plaintext allowed, no TLS, Exchange's default certificate, an expired and a "
        "wrongly named certificate, a server that lies about LOGINDISABLED) and scan them.",
    )
    parser.add_argument("--no-tui", action="store_true", help="plain output even on a terminal")
    parser.add_argument("--format", choices=("table", "json", "jsonl"), help="stdout format without the TUI")
    parser.add_argument("-o", "--output", metavar="FILE", help="write results to FILE as JSON Lines")
    parser.add_argument("--append", action="store_true", help="with -o: add to a file that holds earlier scans")
    parser.add_argument("--list", action="store_true", help="list the demo servers and exit")
    parser.add_argument(
        "--fast", action="store_true", help="servers answer failed logins at once instead of after Dovecot's 2 s delay"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from scanner.demo import DEMO_SERVERS, running_demo

    if args.list:
        for spec in DEMO_SERVERS:
            print(f"{spec.address:<11} {spec.name:<36} {spec.what}")
        return 0
    from scanner.commands.scan import plain_scan, scan_info  # the scan command's own plain output
    from scanner.report.validate import prepare_validation
    from scanner.settings import build_settings

    # Findings are the point of the demo, so they do not make it fail (fail-on none, no baseline, no policy).
    given = {"tui": False, "fail_on": "none", "targets": ["demo"], "append": args.append}
    given |= {name: value for name in ("format", "output") if (value := getattr(args, name))}
    settings = build_settings(given)
    info = scan_info(settings)  # -o FILE of another scan is refused here too
    use_tui = not args.no_tui and args.format is None and sys.stdout.isatty() and sys.stdin.isatty()
    with running_demo(login_delay=0.05 if args.fast else None) as demo:
        scan = Scan(demo.endpoints, demo.options(), total=len(demo.endpoints))
        # the demo servers' ports are chosen at start: record them, not the scan command's default list
        ports = ",".join(f"{e.protocol}{'s' if e.transport == 'implicit' else ''}:{e.port}" for e in demo.endpoints)
        info = dataclasses.replace(
            info, targets=tuple(sorted({e.address for e in demo.endpoints})), options={**info.options, "ports": ports}
        )
        if use_tui:
            from scanner.tui import run_scan_tui

            return run_scan_tui(
                scan,
                targets=f"demo servers 127.0.0.2-{len(DEMO_SERVERS) + 1} (ports chosen at start)",
                options_summary=f"login probe, CA {demo.ca_file}",
                output_path=args.output,
                fixer=demo.fix,
                scan_info=info,
            )
        return asyncio.run(plain_scan(scan, settings, prepare_validation(settings), info))
