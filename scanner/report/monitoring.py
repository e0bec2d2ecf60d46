"""Monitoring: judge results as a Nagios-style plugin (OK/WARNING/CRITICAL/UNKNOWN) and expose them to Prometheus.

The plugin output follows the Monitoring Plugins guidelines that Nagios, Icinga, Sensu and Zabbix (through its
Nagios-compatible item types) read: one status line ``MAILPROBE STATE - text | perfdata``, then one line per endpoint
(long output), and the exit code 0/1/2/3. Performance data: probe time and days to certificate expiry per endpoint,
with the warning and critical thresholds. Prometheus gets one series per endpoint for the plugin state, the
plaintext-login verdict, findings by severity, certificate expiry and probe time (prometheus_client writes the text
exposition format).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from scanner.model import SEVERITIES, SEVERITY_RANK, EndpointResult
from scanner.report.summary import sorted_findings
from scanner.text import plural
from scanner.untrusted import for_plugin_output, for_prometheus_label

if TYPE_CHECKING:  # prometheus_client is imported when metrics are made, not when the command line starts
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import Collector

PluginState = Literal["OK", "WARNING", "CRITICAL", "UNKNOWN"]
EXIT_CODES: dict[PluginState, int] = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}
_RANK: dict[PluginState, int] = {"OK": 0, "WARNING": 1, "UNKNOWN": 2, "CRITICAL": 3}  # which state wins overall


@dataclass(frozen=True)
class Thresholds:
    warning: str | None = "medium"  # a finding at or above this severity: WARNING (None: never)
    critical: str | None = "high"  # ... CRITICAL
    cert_warning_days: int = 30  # a certificate expiring within this many days: WARNING
    cert_critical_days: int = 7


@dataclass(frozen=True)
class EndpointCheck:
    result: EndpointResult
    state: PluginState
    reasons: tuple[str, ...]  # why it is not OK, mailprobe's own words (finding titles, days left)
    first_step: str | None  # the remediation of the worst problem


@dataclass(frozen=True)
class CheckOutcome:
    state: PluginState
    endpoints: tuple[EndpointCheck, ...]
    thresholds: Thresholds

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.state]


def judge_endpoint(result: EndpointResult, limits: Thresholds) -> EndpointCheck:
    critical: list[str] = []
    warning: list[str] = []
    steps: list[str] = []
    if result.state != "open":
        why = {"closed": "connection refused", "filtered": "no answer to connect"}.get(result.state)
        critical.append(why or f"no usable {result.protocol.upper()}: {result.error or 'error'}")
        steps.append("check that the service runs and the port is reachable from this monitoring host")
    for finding in sorted_findings(result):
        rank = SEVERITY_RANK[finding.severity]
        if limits.critical and rank >= SEVERITY_RANK[limits.critical]:
            critical.append(f"{finding.title} ({finding.severity})")
        elif limits.warning and rank >= SEVERITY_RANK[limits.warning]:
            warning.append(f"{finding.title} ({finding.severity})")
        else:
            continue
        steps.append(finding.remediation)
    cert = result.tls.certificate if result.tls else None
    if cert is not None:
        if cert.days_left < limits.cert_critical_days:
            expiry = "certificate expired" if cert.days_left < 0 else f"certificate expires in {cert.days_left}d"
            critical.append(expiry)
        elif cert.days_left < limits.cert_warning_days:
            warning.append(f"certificate expires in {cert.days_left}d")
    if result.state == "open" and result.plaintext_login.verdict == "inconclusive":
        warning.append("plaintext login inconclusive (see the evidence with mailprobe scan)")
    state: PluginState = "CRITICAL" if critical else "WARNING" if warning else "OK"
    return EndpointCheck(result, state, tuple(critical + warning), steps[0] if steps else None)


def judge(results: Iterable[EndpointResult], limits: Thresholds) -> CheckOutcome:
    checks = tuple(judge_endpoint(r, limits) for r in results)
    state: PluginState = "UNKNOWN"
    if checks:
        state = max((c.state for c in checks), key=_RANK.__getitem__)
    return CheckOutcome(state, checks, limits)


# -- Nagios / Icinga / Sensu / Zabbix plugin output ---------------------------------------------------------------


def _where(result: EndpointResult) -> str:
    return f"{result.address}:{result.port}" if ":" not in result.address else f"[{result.address}]:{result.port}"


def render_plugin(outcome: CheckOutcome) -> str:
    """The status line with performance data, then one line per endpoint, worst first."""
    checks = sorted(outcome.endpoints, key=_urgency)
    problems = [c for c in checks if c.state != "OK"]
    if not checks:
        text = "no endpoint was checked"
    elif problems:
        shown = [f"{_where(c.result)} {c.reasons[0]}" for c in problems[:3]]
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        counts = [
            f"{sum(c.state == s for c in checks)} {s.lower()}"
            for s in ("CRITICAL", "WARNING")
            if any(c.state == s for c in checks)
        ]
        text = "; ".join(shown) + more + f" ({', '.join(counts)} of {plural(len(checks), 'endpoint')})"
    else:
        verdicts = {c.result.plaintext_login.verdict for c in checks} - {"not_applicable"}
        login = "plaintext login refused" if verdicts <= {"refused"} else "no plaintext login accepted"
        days = [c.result.tls.certificate.days_left for c in checks if c.result.tls and c.result.tls.certificate]
        certs = f", certificates valid for {min(days)}d or more" if days else ""
        text = f"{plural(len(checks), 'endpoint')} OK: {login}{certs}"
    status = f"MAILPROBE {outcome.state} - {for_plugin_output(text, 400)}"
    lines = [f"{status} | {' '.join(perfdata(outcome))}"]
    for c in checks:
        line = f"{c.state} {_where(c.result)} {c.result.protocol}/{c.result.transport}: "
        line += "; ".join(c.reasons) if c.reasons else _ok_words(c.result)
        if c.first_step:
            line += f". First step: {c.first_step}"
        lines.append(for_plugin_output(line, 600))
    return "\n".join(lines) + "\n"


def _urgency(check: EndpointCheck) -> tuple[int, int]:
    """Worst state first; within a state, the worst finding first (the status line names only three)."""
    worst = check.result.worst_severity
    return -_RANK[check.state], -(SEVERITY_RANK[worst] if worst else -1)


def _ok_words(result: EndpointResult) -> str:
    verdict = result.plaintext_login.verdict.replace("_", " ")
    cert = result.tls.certificate if result.tls else None
    mozilla = result.tls.mozilla if result.tls else None
    profile = f", TLS meets Mozilla {mozilla.summary}" if mozilla and mozilla.summary not in ("none", "unknown") else ""
    if mozilla and mozilla.summary in ("none", "unknown"):
        profile = f", TLS meets no Mozilla profile{' (enumeration incomplete)' if mozilla.summary == 'unknown' else ''}"
    return f"plaintext login {verdict}" + (f", certificate valid {cert.days_left}d" if cert else "") + profile


def perfdata(outcome: CheckOutcome) -> list[str]:
    """``'label'=value[UOM];warn;crit;min;max`` per the plugin guidelines; labels from addresses and ports only."""
    limits = outcome.thresholds
    items = [
        f"endpoints={len(outcome.endpoints)};;;0",
        f"critical={sum(c.state == 'CRITICAL' for c in outcome.endpoints)};;;0",
        f"warning={sum(c.state == 'WARNING' for c in outcome.endpoints)};;;0",
    ]
    for c in outcome.endpoints:
        where = _where(c.result)
        items.append(f"'{where} time'={c.result.duration_ms / 1000:.3f}s;;;0")
        cert = c.result.tls.certificate if c.result.tls else None
        if cert is not None:
            # "30:" is the plugin range "alert below 30"
            ranges = f"{limits.cert_warning_days}:;{limits.cert_critical_days}:"
            items.append(f"'{where} cert_days'={cert.days_left};{ranges}")
    return items


# -- Prometheus ---------------------------------------------------------------------------------------------------

_LABELS = ("host", "address", "port", "protocol", "transport")
_STATE_VALUES: dict[PluginState, int] = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}


def _labels(result: EndpointResult) -> list[str]:
    return [
        for_prometheus_label(v) for v in (result.host, result.address, result.port, result.protocol, result.transport)
    ]


def metric_families(outcome: CheckOutcome, checked_at: float, took: float) -> Iterator[Metric]:
    """prometheus_client metric families for one check (a Collector yields these)."""
    from prometheus_client.core import GaugeMetricFamily

    status = GaugeMetricFamily(
        "mailprobe_endpoint_status", "Plugin state of the endpoint: 0 OK, 1 WARNING, 2 CRITICAL", labels=_LABELS
    )
    up = GaugeMetricFamily(
        "mailprobe_endpoint_up", "1 when the endpoint answered as POP3, IMAP or SMTP submission", labels=_LABELS
    )
    verdict = GaugeMetricFamily(
        "mailprobe_plaintext_login",
        "Plaintext-login verdict of the endpoint (value 1; the verdict is the label)",
        labels=(*_LABELS, "verdict"),
    )
    findings = GaugeMetricFamily(
        "mailprobe_findings", "Findings of the endpoint by severity", labels=(*_LABELS, "severity")
    )
    expiry = GaugeMetricFamily(
        "mailprobe_certificate_expiry_timestamp_seconds",
        "When the endpoint's certificate expires (Unix time)",
        labels=_LABELS,
    )
    duration = GaugeMetricFamily(
        "mailprobe_probe_duration_seconds", "Time the probe of the endpoint took", labels=_LABELS
    )
    for c in outcome.endpoints:
        r, labels = c.result, _labels(c.result)
        status.add_metric(labels, _STATE_VALUES[c.state])
        up.add_metric(labels, 1 if r.state == "open" else 0)
        verdict.add_metric([*labels, r.plaintext_login.verdict], 1)
        for severity in SEVERITIES:
            findings.add_metric([*labels, severity], sum(f.severity == severity for f in r.findings))
        cert = r.tls.certificate if r.tls else None
        if cert is not None and (when := _unix_time(cert.not_after)) is not None:
            expiry.add_metric(labels, when)
        duration.add_metric(labels, r.duration_ms / 1000)
    overall = GaugeMetricFamily(
        "mailprobe_check_status",
        "Worst plugin state of the last check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
        value=_STATE_VALUES[outcome.state],
    )
    last = GaugeMetricFamily(
        "mailprobe_check_timestamp_seconds", "When the last check finished (Unix time)", value=checked_at
    )
    took_family = GaugeMetricFamily("mailprobe_check_duration_seconds", "How long the last check took", value=took)
    yield from (status, up, verdict, findings, expiry, duration, overall, last, took_family)


def render_prometheus(outcome: CheckOutcome, checked_at: float, took: float) -> str:
    """The text exposition format (a node_exporter textfile collector file, or a scrape's body)."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector(lambda: list(metric_families(outcome, checked_at, took))))
    return generate_latest(registry).decode("utf-8")


def collector(families: Callable[[], Sequence[Metric]]) -> Collector:
    """A prometheus_client collector yielding ``families()`` at each collection (a scrape, or one rendering)."""
    from prometheus_client.registry import Collector

    class Current(Collector):
        def collect(self) -> Iterator[Metric]:
            return iter(families())

    return Current()


def _unix_time(value: object) -> float | None:
    """A certificate date (a datetime, or ISO 8601 text in older files) as Unix time; naive means UTC."""
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return float(calendar.timegm(moment.utctimetuple()))
