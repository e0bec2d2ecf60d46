"""`mailprobe scan TARGET...`: probe POP3/IMAP endpoints and report what a client meets on the wire."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from typing import TYPE_CHECKING

from scanner.cli import positive_float
from scanner.engine.options import ProbeOptions
from scanner.engine.runner import Scan
from scanner.engine.targets import TargetPlan
from scanner.errors import UsageError
from scanner.model import SEVERITIES, EndpointResult
from scanner.output import render_table, write_json
from scanner.report.validate import evaluate_after_scan

if TYPE_CHECKING:
    from scanner.engine.workers import WorkerScan

DEFAULT_PORTS = "110,143,993,995"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="probe POP3/IMAP endpoints",
        description="Connect to POP3/IMAP endpoints, try a random dummy login in clear and over TLS, inspect "
        "STARTTLS and certificates, and report findings.",
        epilog="example: mailprobe scan mail.example.com --format json",
    )
    parser.add_argument("targets", nargs="*", metavar="TARGET", help="host name, address, HOST:PORT, CIDR, range")
    parser.add_argument("-p", "--ports", default=DEFAULT_PORTS, help=f"ports to probe (default {DEFAULT_PORTS})")
    parser.add_argument("--format", choices=("table", "json", "jsonl"), help="stdout format (default: table)")
    parser.add_argument("-o", "--output", metavar="FILE", help="append results to FILE as JSON Lines")
    parser.add_argument("--no-login-probe", action="store_true", help="do not try the dummy login")
    parser.add_argument(
        "--confirm-over-tls",
        action="store_true",
        help="repeat the dummy login over TLS even when the answer in clear already decides "
        "(one more failed login per mechanism in the server's logs)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=5.0,
        metavar="SECONDS",
        help="the longest a connect waits (within a scan, answered connects teach a shorter wait) and the "
        "per-reply timeout (default 5)",
    )
    parser.add_argument(
        "--fixed-timeout",
        action="store_true",
        help="wait the whole --timeout on every connect instead of a wait learnt from the scan's answers",
    )
    parser.add_argument(
        "--fail-on",
        choices=(*SEVERITIES, "none"),
        default="high",
        help="exit 1 when a finding is at or above this severity (default high)",
    )
    parser.add_argument("--ca-file", metavar="PEM", help="extra trust anchors, e.g. your organisation's CA")
    parser.add_argument("--expect-name", metavar="NAME", help="certificate name to expect for address targets")
    parser.add_argument(
        "--expiry-warn",
        type=int,
        default=30,
        metavar="DAYS",
        help="warn when a certificate expires within DAYS (default 30)",
    )
    parser.add_argument("--no-legacy-tls", action="store_true", help="skip the TLS 1.0/1.1 acceptance checks")
    parser.add_argument("--source-address", metavar="ADDR", help="local address to connect from")
    parser.add_argument("--no-tui", action="store_true", help="plain output even on a terminal")
    from scanner.engine.targets import add_range_arguments

    add_range_arguments(parser)
    from scanner.report.validate import add_validation_arguments

    add_validation_arguments(parser)  # -c/--config, --baseline, --fail-on-regression, --policy
    parser.set_defaults(func=run)


def probe_options(args: argparse.Namespace) -> ProbeOptions:
    return ProbeOptions(
        login_probe=not args.no_login_probe,
        confirm_over_tls=args.confirm_over_tls,
        connect_timeout=args.timeout,
        adaptive_connect_timeout=not args.fixed_timeout,
        read_timeout=max(args.timeout, 5.0),  # a credential check may take seconds by design
        tls_timeout=max(args.timeout, 5.0),
        ca_file=args.ca_file,
        expect_name=args.expect_name,
        expiry_warn_days=args.expiry_warn,
        legacy_tls=not args.no_legacy_tls,
        source_address=args.source_address,
    )


def options_summary(args: argparse.Namespace) -> str:
    """The options in force, in a few words, for the TUI header."""
    words = [f"ports {args.ports}", f"timeout {args.timeout:g}s", f"fail-on {args.fail_on}"]
    words.append("no login probe" if args.no_login_probe else "dummy login probe")
    if args.ca_file:
        words.append(f"CA {args.ca_file}")
    if args.expect_name:
        words.append(f"expect {args.expect_name}")
    if args.baseline:
        words.append(f"baseline {args.baseline}")
    if args.policy:
        words.append(f"policy {args.policy}")
    return ", ".join(words)


def run(args: argparse.Namespace) -> int:
    from scanner.config import apply_scan_config
    from scanner.report.validate import prepare_validation

    apply_scan_config(args)  # -c FILE fills what the command line left at its default
    prepare_validation(args)  # a bad baseline or policy file fails now, before any packet
    if args.ca_file:
        _check_ca_file(args.ca_file)
    from scanner.engine.targets import plan_endpoints

    plan = plan_endpoints(args)  # raises UsageError before any packet is sent
    asyncio.run(_check_named_targets(plan, args))
    use_tui = not args.no_tui and args.format is None and sys.stdout.isatty() and sys.stdin.isatty()
    from scanner.engine.workers import WorkerScan, worker_count

    workers = worker_count(args.workers, plan, tui=use_tui)
    if workers > 1:
        parallel = WorkerScan(plan, probe_options(args), workers, plan.scan_kwargs)
        parallel.spawn()  # before any event loop runs here
        return asyncio.run(plain_scan(parallel, args))
    scan = Scan(plan.endpoints, probe_options(args), total=plan.total, **plan.scan_kwargs)
    if use_tui:
        from scanner.tui import run_scan_tui

        return run_scan_tui(
            scan,
            title="mailprobe scan",
            targets=" ".join(args.targets) or "(from files)",
            options_summary=options_summary(args),
            output_path=args.output,
            exit_code=lambda results: evaluate_after_scan(results, args, stream=sys.stderr),
        )
    return asyncio.run(plain_scan(scan, args))


# Names typed on the command line are checked before the scan: a typo gets one line and exit 2. Names from lists
# and domains, and resolvers that fail or time out, give result rows instead (they may work on the next run).
_MAX_NAMES_CHECKED = 32


async def _check_named_targets(plan: TargetPlan, args: argparse.Namespace) -> None:
    typed = [name for name in plan.names if name in {t.lower().rstrip(".") for t in args.targets}]
    if not typed or len(typed) > _MAX_NAMES_CHECKED:
        return
    from scanner.engine.dns import DnsError, NoSuchName

    async def exists(name: str) -> str | None:
        if name == "localhost" or name.endswith(".localhost"):
            return None
        try:
            await plan.resolver.query(name, "A")  # NXDOMAIN covers every type: one question is enough
        except NoSuchName:
            return name
        except DnsError:
            pass
        return None

    missing = [name for name in await asyncio.gather(*(exists(n) for n in typed)) if name]
    if missing:
        raise UsageError(f"cannot resolve {', '.join(missing)}: no such name in DNS")


async def plain_scan(scan: Scan | WorkerScan, args: argparse.Namespace) -> int:
    from scanner.engine.jsonl import JsonlWriter
    from scanner.engine.progress import Progress, resume_hint

    shown: list[EndpointResult] = []
    hidden: Counter[str] = Counter()
    writer = JsonlWriter(args.output) if args.output else None
    progress = Progress(total=lambda: scan.total, stream=sys.stderr)
    open_addresses: set[str] = set()
    # Closed or silent implicit-TLS ports, in any order relative to their host's open ones; kept small (a /16 of
    # silent addresses has 131,072 of them) and turned back into rows only for hosts with an open port.
    unanswered_implicit: dict[str, list[tuple[int, str, str]]] = {}
    # A baseline diff or a policy judges every endpoint asked for (vanished, closed); otherwise the rows that
    # matter are enough, which keeps memory flat on large ranges.
    everything: list[EndpointResult] | None = [] if (args.baseline or args.policy) else None
    try:
        async for result in scan.results():
            progress.update(result)
            if writer:
                writer.write(result)
            if args.format == "jsonl":
                sys.stdout.write(result.to_json() + "\n")
                sys.stdout.flush()
            if args.format == "json" or result.state in ("open", "error"):
                shown.append(result)  # JSON lists every endpoint; the table counts closed/filtered ones
                open_addresses.add(result.address)
            else:
                hidden[result.state] += 1
                if result.transport == "implicit":  # e.g. a closed 993 next to an open 143: implicit-tls-missing
                    unanswered_implicit.setdefault(result.address, []).append(_compact(result))
            if everything is not None:
                everything.append(result)
    except (KeyboardInterrupt, asyncio.CancelledError):
        progress.close(note=resume_hint(args.output))
        raise KeyboardInterrupt from None
    finally:
        progress.close()
        if writer:
            writer.close()
    for failure in getattr(scan, "failures", ()):
        hint = f": --resume {args.output} completes them" if args.output else ""
        print(f"mailprobe: {failure}; endpoints it had not finished have no result{hint}", file=sys.stderr)
    from scanner.verdicts.host import with_host_findings  # certificate analysis: imported when needed

    shown = [
        r
        for r in with_host_findings(shown + _rows_for(open_addresses, unanswered_implicit))
        if r.state in ("open", "error") or args.format == "json"
    ]
    if args.format == "json":
        write_json(shown, sys.stdout)
    elif args.format != "jsonl":
        print(render_table(shown, hidden=hidden))
    return evaluate_after_scan(everything if everything is not None else shown, args)


def _compact(result: EndpointResult) -> tuple[int, str, str]:
    return (result.port, result.protocol, result.state)


def _rows_for(addresses: set[str], unanswered: dict[str, list[tuple[int, str, str]]]) -> list[EndpointResult]:
    return [
        EndpointResult(host=address, address=address, name=None, port=port, protocol=protocol,  # type: ignore[arg-type]
                       transport="implicit", state=state)  # type: ignore[arg-type]
        for address in addresses & unanswered.keys()
        for port, protocol, state in unanswered[address]
    ]


def _check_ca_file(path: str) -> None:
    from scanner.tls.trust import TrustStoreError, check_ca_file

    try:
        check_ca_file(path)
    except TrustStoreError as exc:
        raise UsageError(f"--ca-file {exc}") from None
