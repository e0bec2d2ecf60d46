"""`mailprobe scan TARGET...`: probe POP3/IMAP endpoints and report what a client meets on the wire."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from scanner.commands.tls_arguments import add_tls_test_arguments
from scanner.errors import InterruptedAndSaid, UsageError
from scanner.model import SEVERITIES, EndpointResult, ScanInfo
from scanner.probe.options import ProbeOptions
from scanner.scan.scheduler import Scan
from scanner.settings import DEFAULT_PORTS_TEXT, RULES, ScanSettings, build_settings
from scanner.targets.planning import TargetPlan, build_plan

# What the first connect does not need is imported where it is used: the config file reader, the output formats,
# the validation (baseline, policy) and the reports (tests/test_startup.py holds a plain scan to it).
if TYPE_CHECKING:
    from scanner.pipeline import Collector
    from scanner.report.validate import Validation
    from scanner.scan.workers import WorkerScan
    from scanner.targets.discover import Discovery


def register(subparsers: argparse._SubParsersAction) -> None:
    # Options left out are absent from the namespace (argument_default=SUPPRESS): what the user typed is exactly
    # what is there, so the command line beats a config file even when a value typed equals the default.
    parser = subparsers.add_parser(
        "scan",
        help="probe POP3/IMAP (and SMTP submission) endpoints",
        description="Connect to POP3/IMAP endpoints (and SMTP submission on 587/465 with -p client), try a random "
        "dummy login in clear and over TLS, inspect STARTTLS and certificates, and report findings.",
        epilog="example: mailprobe scan mail.example.com --format json",
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("targets", nargs="*", metavar="TARGET", help="host name, address, HOST:PORT, CIDR, range")
    parser.add_argument(
        "-p",
        "--ports",
        help="ports to probe: numbers, SCHEME:PORT, or 'client' for "
        f"110,143,465,587,993,995 (default {DEFAULT_PORTS_TEXT})",
    )
    parser.add_argument(
        "--format",
        metavar="FORMAT",
        help="stdout format: table, json (the scan line and every result) or jsonl (what -o writes; default: table)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write results to FILE as JSON Lines (refused if FILE holds another scan, unless --append)",
    )
    parser.add_argument(
        "--append",
        action="store_true",
        help="with -o: add this scan to a file that holds earlier scans (reports use the latest "
        "result of each endpoint)",
    )
    parser.add_argument("--no-login-probe", dest="login_probe", action="store_false", help="do not try the dummy login")
    parser.add_argument(
        "--no-ntlm-probe",
        dest="ntlm_probe",
        action="store_false",
        help="do not read what the NTLM challenge names where NTLM is offered (it sends no credential)",
    )
    parser.add_argument(
        "--confirm-over-tls",
        action="store_true",
        help="repeat the dummy login over TLS even when the answer in clear already decides "
        "(one more failed login per mechanism in the server's logs)",
    )
    parser.add_argument(
        "--timeout",
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
        metavar="SEVERITY",
        help=f"exit 1 when a finding is at or above this severity ({', '.join(SEVERITIES)} or none; default high)",
    )
    parser.add_argument("--ca-file", metavar="PEM", help="extra trust anchors, e.g. your organisation's CA")
    parser.add_argument("--expect-name", metavar="NAME", help="certificate name to expect for address targets")
    parser.add_argument(
        "--expiry-warn", metavar="DAYS", help="warn when a certificate expires within DAYS (0-3650, default 30)"
    )
    add_tls_test_arguments(parser)
    parser.add_argument("--source-address", metavar="ADDR", help="local address to connect from")
    parser.add_argument("--no-tui", dest="tui", action="store_false", help="plain output even on a terminal")
    add_target_arguments(parser)
    validation = parser.add_argument_group("validation")
    validation.add_argument(
        "-c", "--config", metavar="FILE", help="TOML scan configuration (options given on the command line win)"
    )
    validation.add_argument("--baseline", metavar="FILE", help="earlier results (JSONL): show what changed since")
    validation.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="with --baseline: findings fail only when they are new or worse (a failing policy always fails)",
    )
    validation.add_argument("--policy", metavar="FILE", help="TOML policy of what must hold; exit 1 when it fails")
    parser.set_defaults(func=run)


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """The target, DNS, engine and resume options of `mailprobe scan`."""
    group = parser.add_argument_group("targets")
    group.add_argument(
        "-iL",
        "--input-list",
        dest="input_lists",
        action="append",
        metavar="FILE",
        help="read targets from FILE, one or more a line, # comments; - is stdin",
    )
    group.add_argument(
        "--exclude",
        dest="excludes",
        action="append",
        metavar="TARGET",
        help="never scan these addresses, networks, ranges or names (repeatable, comma-separated)",
    )
    group.add_argument(
        "--exclude-file",
        dest="exclude_files",
        action="append",
        metavar="FILE",
        help="never scan the targets listed in FILE",
    )
    group.add_argument("--yes", action="store_true", help="allow target sets larger than a /16")
    group.add_argument("--shard", metavar="K/N", help="scan only part K of N of the targets (deterministic split)")
    group.add_argument(
        "--domain",
        dest="domains",
        action="append",
        metavar="DOMAIN",
        help="discover a domain's mail servers: SRV (RFC 6186), MX, imap./pop./mail. names",
    )
    dns_group = parser.add_argument_group("DNS")
    dns_group.add_argument(
        "--nameserver", metavar="HOST[:PORT]", help="DNS server to ask instead of the system resolver"
    )
    dns_group.add_argument(
        "--no-ptr", dest="ptr", action="store_false", help="do not look up reverse DNS names of open endpoints"
    )
    engine = parser.add_argument_group("engine")
    engine.add_argument(
        "--concurrency",
        metavar="N",
        help="endpoints probed at once (default: sized to this machine's file-descriptor limit)",
    )
    engine.add_argument("--per-host", metavar="N", help="endpoints of one address probed at once (default 2)")
    engine.add_argument("--rate", metavar="N", help="start at most N endpoints per second")
    engine.add_argument(
        "--workers",
        metavar="N",
        help="processes sharing the scan (default: one per CPU, at most 8, for address targets of "
        "512+ endpoints per process; 1 for names, domains and the TUI)",
    )
    engine.add_argument(
        "--discover",
        metavar="TOOL",
        help="find open ports with a SYN scanner first: zmap, masscan or off (default: zmap or "
        "masscan for 65,536+ IPv4 endpoints when installed and raw sockets are allowed)",
    )
    engine.add_argument(
        "--resume", metavar="FILE", help="skip endpoints already in FILE (JSON Lines) and append the rest to it"
    )
    engine.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the scan on the nodes of a Ray cluster (host:6379, ray://host:10001 or auto; "
        "pip install 'mailprobe[ray]' on every node); results, TUI and exit code stay here",
    )
    engine.add_argument(
        "--vantage",
        dest="vantages",
        nargs=2,
        action="append",
        metavar=("SELECTOR", "TARGETS"),
        help="with --ray: scan TARGETS (addresses, networks, ranges, comma-separated) only from the nodes with "
        "label SELECTOR=key=value or custom resource SELECTOR (repeatable)",
    )


def settings_from_args(args: argparse.Namespace) -> ScanSettings:
    """The typed settings of a parsed `scan` command line, merged with its -c config file."""
    given = {name: value for name, value in vars(args).items() if name in RULES}
    config = getattr(args, "config", None)
    file_values = None
    if config:
        from scanner.config import load_scan_config

        file_values = load_scan_config(config)
    return build_settings(given, file_values, config)


def probe_options(settings: ScanSettings) -> ProbeOptions:
    return ProbeOptions(
        login_probe=settings.login_probe,
        ntlm_probe=settings.ntlm_probe,
        confirm_over_tls=settings.confirm_over_tls,
        connect_timeout=settings.timeout,
        adaptive_connect_timeout=not settings.fixed_timeout,
        read_timeout=max(settings.timeout, 5.0),  # a credential check may take seconds by design
        tls_timeout=max(settings.timeout, 5.0),
        ca_file=settings.ca_file,
        expect_name=settings.expect_name,
        expiry_warn_days=settings.expiry_warn,
        legacy_tls=settings.legacy_tls,
        tls_enumeration=settings.tls_enumeration,
        tls_profile=settings.tls_profile,
        tls_confirm=not settings.enumerate_every_server,
        injection_test=settings.injection_test,
        source_address=settings.source_address,
    )


def plan_targets(settings: ScanSettings) -> TargetPlan:
    """The target plan, with a resolver when DNS is used. Raises UsageError before any packet is sent."""
    done: tuple[tuple[str, int], ...] = ()
    interrupted: tuple[EndpointResult, ...] = ()
    if settings.resume and os.path.exists(settings.resume):  # missing: scan_info refused it, unless --shard auto
        from scanner.results_file import read_progress

        progress = read_progress(settings.resume)  # talking lines included: a begun conversation is never repeated
        done, interrupted = progress.done, progress.interrupted
    plan = build_plan(
        settings.targets,
        ports=settings.ports,
        lists=settings.input_lists,
        excludes=settings.excludes,
        exclude_files=settings.exclude_files,
        domains=settings.domains,
        yes=settings.yes,
        shard=settings.shard,
        done=done,
        interrupted=interrupted,
    )
    if plan.names or plan.domains or settings.nameserver or settings.ptr:
        from scanner.targets.dns import Resolver, parse_nameserver  # dnspython: imported only when DNS is used

        nameserver = parse_nameserver(settings.nameserver) if settings.nameserver else None
        plan.resolver = Resolver(nameserver=nameserver, timeout=max(settings.timeout, 2.0))
    return plan


def runner_limits(settings: ScanSettings, plan: TargetPlan) -> dict[str, Any]:
    """Keyword arguments of scanner.scan.scheduler.Scan (and of every worker's Scan: --concurrency is shared
    between them; without it each process takes its own default)."""
    limits: dict[str, Any] = {
        "concurrency": settings.concurrency,
        "per_host": settings.per_host,
        "rate": settings.rate,
        "total_source": plan.current_total,
        "reverse": plan.resolver.reverse_for_scan if settings.ptr else None,
    }
    if settings.output:
        from scanner.results_file import TalkJournal

        # a talking line in the file before each conversation: --resume never repeats a login that may have been sent
        limits["before_talk"] = TalkJournal(settings.output).before_talk
    return limits


def _say_concurrency_cap(requested: int | None, processes: int) -> None:
    """One line when --concurrency asks for more sockets than the file-descriptor limit gives a process."""
    if requested is None:
        return
    from scanner.scan.tuning import concurrency_cap

    cap = concurrency_cap()
    if requested // processes > cap:
        print(
            f"mailprobe: --concurrency {requested:,} lowered to {cap * processes:,} "
            f"({cap:,} per process): the file-descriptor limit (ulimit -n) allows no more",
            file=sys.stderr,
        )


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    code = scan(settings)
    if settings.shard == "auto" and code in (1, 3):
        # A pod of an Indexed Job: its exit status says whether its shard was scanned, since Kubernetes retries a
        # pod that fails. Findings and policies are judged once, on the merged results (docs/scanning.md).
        print(
            f"mailprobe: shard {settings.recorded()['shard']} scanned (exit {code} becomes 0 with --shard auto; "
            "judge the merged results)",
            file=sys.stderr,
        )
        return 0
    return code


def scan(settings: ScanSettings) -> int:
    validation = prepared_validation(settings)  # a bad baseline or policy file fails now, before any packet
    if settings.ca_file:
        require_ca_file(settings.ca_file)
    info = scan_info(settings)  # refuses -o FILE of another scan before any packet
    plan = plan_targets(settings)  # raises UsageError before any packet is sent
    if plan.names:
        asyncio.run(_check_named_targets(plan, settings))
    # --debug writes to stderr, which the TUI's screen would swallow or be garbled by: the table shows instead
    debugging = logging.getLogger("mailprobe").isEnabledFor(logging.DEBUG)
    use_tui = settings.tui and settings.format is None and sys.stdout.isatty() and sys.stdin.isatty() and not debugging
    if settings.ray:
        from scanner.commands.scan_ray import scan_on_ray

        return scan_on_ray(settings, plan, validation, info, use_tui)
    from scanner.scan.workers import WorkerScan, worker_count

    limits = runner_limits(settings, plan)
    from scanner.targets import discover

    tool, note = discover.choose(settings.discover, plan)
    if tool:
        if note:
            print(note, file=sys.stderr)
        found = discover.Discovery(
            tool,
            plan,
            wait=settings.timeout,
            packet_rate=settings.rate or discover.DEFAULT_PACKET_RATE,
            source_address=settings.source_address,
        )
        limits["total_source"] = found.total
        try:
            return asyncio.run(
                plain_scan(
                    Scan(found.endpoints(), probe_options(settings), **limits),
                    settings,
                    validation,
                    info,
                    discovery=found,
                )
            )
        except discover.DiscoveryError as exc:
            print(f"mailprobe: {exc} (--discover off scans without a SYN scanner)", file=sys.stderr)
            return 2
    workers = worker_count(settings.workers, plan, tui=use_tui)
    _say_concurrency_cap(settings.concurrency, workers)
    if workers > 1:
        import scanner.probe.conversation  # noqa: F401  once, before the fork, rather than by every worker after it

        options = probe_options(settings)
        if options.tls_enumeration:  # the probe loads these with its first enumeration: here once for all workers
            import scanner.tls.confirm  # noqa: F401
            import scanner.verdicts.tls_profile  # noqa: F401
        parallel = WorkerScan(plan, options, workers, limits)
        parallel.spawn()  # before any event loop runs here
        return asyncio.run(plain_scan(parallel, settings, validation, info))
    scan = Scan(plan.endpoints, probe_options(settings), total=plan.total, **limits)
    if use_tui:
        from scanner.tui import run_scan_tui

        return run_scan_tui(
            scan,
            title="mailprobe scan",
            targets=" ".join(settings.targets) or "(from files)",
            options_summary=settings.summary(),
            output_path=settings.output,
            scan_info=info,
            exit_code=lambda results: judged(results, validation, settings, stream=sys.stderr),
        )
    return asyncio.run(plain_scan(scan, settings, validation, info))


def prepared_validation(settings: ScanSettings) -> Validation | None:
    """The baseline and the policy, read and checked; None when the scan has neither (--fail-on alone judges it)."""
    if settings.baseline is None and settings.policy is None:
        return None
    from scanner.report.validate import prepare_validation

    return prepare_validation(settings)


def judged(
    results: Sequence[EndpointResult], validation: Validation | None, settings: ScanSettings, stream: TextIO
) -> int:
    """The verdict lines and the exit code of a finished scan."""
    from scanner.report.validate import evaluate_after_scan, prepare_validation

    # without a baseline or a policy, preparing reads no file: only --fail-on and --fail-on-regression count
    return evaluate_after_scan(results, validation or prepare_validation(settings), stream=stream)


def scan_info(settings: ScanSettings) -> ScanInfo:
    """The scan line this run writes first: a new scan, or the one --resume completes. -o FILE that already holds
    results is refused unless --append (a new scan added to the file) or --resume (the same scan continued)."""
    from scanner.results_file import holds_results, last_scan_id, new_scan

    # A typo in --resume must not start a new scan; a Kubernetes Indexed Job's pod (--shard auto) runs the same
    # command first and on each retry, so there a missing file is the first run (docs/scanning.md)
    if settings.resume and settings.shard != "auto" and not os.path.isfile(settings.resume):
        raise UsageError(
            f"--resume {settings.resume}: no such file; --resume completes a scan written with -o FILE "
            f"(to start one: -o {settings.resume})"
        )
    if settings.output and holds_results(settings.output) and not settings.append and not settings.resume:
        raise UsageError(
            f"-o {settings.output} already holds results of an earlier scan; add --append to add this scan to it "
            f"(reports then use the latest result of each endpoint), --resume {settings.output} to complete that "
            "scan, or write to a new file"
        )
    resumes = last_scan_id(settings.resume) if settings.resume and holds_results(settings.resume) else None
    targets = [
        *settings.targets,
        *(f"-iL {path}" for path in settings.input_lists),
        *(f"--domain {domain}" for domain in settings.domains),
    ]
    return new_scan(targets, settings.recorded(), resumes=resumes)


# Names typed on the command line are checked before the scan: a typo gets one line and exit 2. Names from lists
# and domains, and resolvers that fail or time out, give result rows instead (they may work on the next run).
_MAX_NAMES_CHECKED = 32


async def _check_named_targets(plan: TargetPlan, settings: ScanSettings) -> None:
    typed = [name for name in plan.names if name in {t.lower().rstrip(".") for t in settings.targets}]
    if not typed or len(typed) > _MAX_NAMES_CHECKED:
        return
    from scanner.targets.dns import DnsError, NoSuchName

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


async def plain_scan(
    scan: Scan | WorkerScan,
    settings: ScanSettings,
    validation: Validation | None,
    info: ScanInfo,
    discovery: Discovery | None = None,
) -> int:
    """The scan without the TUI: the results file, stdout and progress are sinks of the one result pipeline; the
    table, the JSON document and validation read the rows a Collector kept."""
    from scanner.pipeline import Collector, ResultPipeline, ResultSink
    from scanner.results_file import JsonlStream, JsonlWriter
    from scanner.scan.progress import Progress, resume_hint

    progress = Progress(total=lambda: scan.total, stream=sys.stderr)
    # A baseline diff or a policy judges every endpoint asked for (vanished, closed); otherwise the rows that
    # matter are enough, which keeps memory flat on large ranges. JSON lists every endpoint with its transcript.
    every = settings.format == "json" or bool(validation and validation.judges_every_endpoint)
    kept = Collector(every=every, transcripts=settings.format == "json")
    sinks: list[ResultSink] = [progress, kept]
    if settings.output:
        sinks.insert(0, JsonlWriter(settings.output, info))
    if settings.format == "jsonl":
        sinks.insert(0, await JsonlStream(sys.stdout, info).start())
    pipeline = ResultPipeline(sinks)
    try:
        await pipeline.run(scan.results())
    except (KeyboardInterrupt, asyncio.CancelledError):
        progress.close(note=resume_hint(settings.output))
        raise InterruptedAndSaid from None
    if discovery is not None:
        print(discovery.summary(), file=sys.stderr)
    for failure in getattr(scan, "failures", ()):
        hint = f": --resume {settings.output} completes them" if settings.output else ""
        print(f"mailprobe: {failure}; endpoints it had not finished have no result{hint}", file=sys.stderr)
    from scanner.output import render_table, write_json

    progress.close()  # the same counts as the table's last line
    if settings.format == "json":
        write_json(kept.rows, info, sys.stdout)
    elif settings.format != "jsonl":
        print(render_table([r for r in kept.rows if r.state in ("open", "error")], hidden=_hidden(kept)))
    return judged(kept.rows, validation, settings, _verdict_stream(settings))


def _hidden(kept: Collector) -> Counter[str]:
    """Closed and silent endpoints: counted below the table, not listed."""
    hidden = Counter(kept.hidden)
    hidden.update(r.state for r in kept.rows if r.state not in ("open", "error"))
    return hidden


def require_ca_file(path: str) -> None:
    from scanner.tls.trust import TrustStoreError, check_ca_file

    try:
        check_ca_file(path)
    except TrustStoreError as exc:
        raise UsageError(f"--ca-file {exc}") from None


def _verdict_stream(settings: ScanSettings) -> TextIO:
    # --format json/jsonl owns stdout (-o only adds a JSON Lines file): the human text goes to stderr.
    return sys.stderr if settings.format in ("json", "jsonl") else sys.stdout
