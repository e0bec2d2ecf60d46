"""`mailprobe check TARGET...`: a monitoring plugin (Nagios, Icinga, Sensu, Zabbix) and a Prometheus exporter.

Exit codes follow the plugin guidelines, not the scan's: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (a bad option or
target included, so a typo in a service definition shows as UNKNOWN rather than as a failing mail server).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from scanner.commands.tls_arguments import add_tls_test_arguments
from scanner.errors import MailprobeError, UsageError
from scanner.model import SEVERITIES, EndpointResult
from scanner.report.monitoring import (
    CheckOutcome,
    Thresholds,
    collector,
    judge,
    metric_families,
    render_plugin,
    render_prometheus,
)
from scanner.settings import RULES, ScanSettings, build_settings, checked, day_count, severity_or_none
from scanner.untrusted import for_plugin_output

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

EXIT_UNKNOWN = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check",
        help="monitoring plugin (Nagios/Icinga/Sensu/Zabbix) and Prometheus exporter",
        description="Probe the endpoints and answer as a monitoring plugin: one status line with performance data, "
        "exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; or Prometheus metrics (--format prometheus, "
        "--prometheus-file, --serve).",
        epilog="example: mailprobe check mail.example.com -p 143,993 --ca-file corp-ca.pem",
        argument_default=argparse.SUPPRESS,
    )
    parser.error = _unknown  # type: ignore[method-assign]  # a plugin reports bad usage as UNKNOWN (3)
    parser.add_argument("targets", nargs="*", metavar="TARGET", help="host name, address, HOST:PORT (as for scan)")
    parser.add_argument("-p", "--ports", help="ports to check (default 110,143,993,995): list only what you run")
    parser.add_argument(
        "-w",
        "--warning",
        metavar="SEVERITY",
        default="medium",
        help=f"WARNING for a finding at or above this ({', '.join(SEVERITIES)}, none; default medium)",
    )
    parser.add_argument(
        "-c",
        "--critical",
        metavar="SEVERITY",
        default="high",
        help="CRITICAL for a finding at or above this (default high; a plaintext login accepted is critical)",
    )
    parser.add_argument(
        "--cert-warning",
        metavar="DAYS",
        default="30",
        help="WARNING when a certificate expires within DAYS (default 30)",
    )
    parser.add_argument(
        "--cert-critical",
        metavar="DAYS",
        default="7",
        help="CRITICAL when a certificate expires within DAYS (default 7)",
    )
    parser.add_argument("--timeout", metavar="SECONDS", help="connect and reply timeout (default 5)")
    parser.add_argument("--ca-file", metavar="PEM", help="extra trust anchors, e.g. your organisation's CA")
    parser.add_argument("--expect-name", metavar="NAME", help="certificate name to expect for address targets")
    parser.add_argument("--source-address", metavar="ADDR", help="local address to connect from")
    parser.add_argument("--no-login-probe", dest="login_probe", action="store_false", help="do not try the dummy login")
    parser.add_argument(
        "--no-ntlm-probe", dest="ntlm_probe", action="store_false", help="do not read what the NTLM challenge names"
    )
    add_tls_test_arguments(parser)
    parser.add_argument("--nameserver", metavar="HOST[:PORT]", help="DNS server to ask instead of the system's")
    parser.add_argument(
        "--from-file",
        metavar="RESULTS",
        help="judge the latest results in a results file (mailprobe scan -o) instead of probing",
    )
    parser.add_argument(
        "--format",
        choices=("nagios", "prometheus"),
        default="nagios",
        help="stdout: the plugin status (default) or Prometheus text",
    )
    parser.add_argument(
        "--prometheus-file",
        metavar="FILE",
        help="also write the metrics to FILE, replaced atomically (node_exporter textfile collector)",
    )
    parser.add_argument(
        "--serve",
        metavar="[ADDR:]PORT",
        help="serve /metrics for Prometheus, checking again every --interval (address default 127.0.0.1)",
    )
    parser.add_argument(
        "--interval", metavar="SECONDS", default="300", help="with --serve: seconds between checks (default 300)"
    )
    parser.set_defaults(func=run, usage_error=_unknown)


def _unknown(message: str) -> NoReturn:
    print(f"MAILPROBE UNKNOWN - {message} (see 'mailprobe check --help')")
    sys.exit(EXIT_UNKNOWN)


def run(args: argparse.Namespace) -> int:
    try:
        limits = Thresholds(
            warning=checked(severity_or_none, args.warning, "--warning"),
            critical=checked(severity_or_none, args.critical, "--critical"),
            cert_warning_days=checked(day_count, args.cert_warning, "--cert-warning"),
            cert_critical_days=checked(day_count, args.cert_critical, "--cert-critical"),
        )
        if limits.cert_warning_days < limits.cert_critical_days:
            raise UsageError(
                f"--cert-warning ({limits.cert_warning_days} days) must be at least --cert-critical "
                f"({limits.cert_critical_days} days): the warning comes first"
            )
        given = {name: value for name, value in vars(args).items() if name in RULES and name != "format"}
        given |= {"expiry_warn": limits.cert_warning_days, "tui": False}
        settings = build_settings(given)
        source = getattr(args, "from_file", None)
        if not settings.targets and not source:
            raise UsageError("no targets given (or --from-file RESULTS)")
        if getattr(args, "serve", None):
            return serve(args.serve, settings, limits, source, interval=checked(_seconds, args.interval, "--interval"))
        started = time.time()
        outcome = judge(collect(settings, source), limits)
        took = time.time() - started
        text = render_prometheus(outcome, time.time(), took)
        if getattr(args, "prometheus_file", None):
            write_atomically(args.prometheus_file, text)
        sys.stdout.write(text if args.format == "prometheus" else render_plugin(outcome))
        return outcome.exit_code
    except MailprobeError as exc:
        print(f"MAILPROBE UNKNOWN - {for_plugin_output(exc)}")
        return EXIT_UNKNOWN


def collect(settings: ScanSettings, source: str | None) -> list[EndpointResult]:
    """The results to judge: probed now (through the result pipeline, as `mailprobe scan` does), or the current
    state of a results file."""
    if source:
        from scanner.report.load import read_results

        return read_results(source)
    from scanner.commands.scan import plan_targets, probe_options, require_ca_file, runner_limits
    from scanner.scan.scheduler import Scan

    if settings.ca_file:
        require_ca_file(settings.ca_file)
    plan = plan_targets(settings)
    scan = Scan(plan.endpoints, probe_options(settings), total=plan.total, **runner_limits(settings, plan))

    async def gather() -> list[EndpointResult]:
        from scanner.pipeline import Collector, ResultPipeline

        rows = Collector(every=True)
        await ResultPipeline([rows]).run(scan.results())
        return rows.rows

    return asyncio.run(gather())


def write_atomically(path: str, text: str) -> None:
    """Write beside the target and rename: a collector never reads a half-written file."""
    target = Path(path)
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent if str(target.parent) else ".")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except OSError as exc:
        raise UsageError(f"--prometheus-file {path}: {exc.strerror or exc}") from None


def _seconds(value: object) -> float:
    number = float(str(value)) if isinstance(value, (str, int, float)) else -1.0
    if not 1 <= number <= 86400:
        raise ValueError(f"expected 1 to 86400 seconds, got {value!r}")
    return number


def _listen_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]") if sep else "127.0.0.1"  # loopback unless an address is given
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--serve {text!r}: expected [ADDRESS:]PORT")
    return host, int(port)


@dataclass
class _Latest:
    """What --serve answers scrapes with: the last finished check."""

    outcome: CheckOutcome | None = None
    checked_at: float = 0.0
    took: float = 0.0

    def families(self) -> list[Metric]:
        return [] if self.outcome is None else list(metric_families(self.outcome, self.checked_at, self.took))


def serve(where: str, settings: ScanSettings, limits: Thresholds, source: str | None, *, interval: float) -> int:
    from prometheus_client import CollectorRegistry, start_http_server

    host, port = _listen_address(where)
    latest = _Latest()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector(latest.families))
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise UsageError(f"--serve {where}: {exc.strerror or exc}") from None
    print(
        f"mailprobe: serving metrics on http://{host}:{port}/metrics, checking every {interval:g}s",
        file=sys.stderr,
        flush=True,
    )
    try:
        while True:
            started = time.time()
            outcome = judge(collect(settings, source), limits)
            latest.checked_at, latest.took = time.time(), time.time() - started
            latest.outcome = outcome
            time.sleep(max(interval - latest.took, 1.0))
    except KeyboardInterrupt:
        return 0
