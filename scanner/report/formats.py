"""Report formats by name: ``render_report(results, fmt) -> str``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from scanner.errors import UsageError
from scanner.model import EndpointResult, ScanInfo
from scanner.report.csv_report import render_csv
from scanner.report.diff import ScanDiff
from scanner.report.html import render_html
from scanner.report.json_report import render_json
from scanner.report.junit import render_junit
from scanner.report.markdown import render_markdown
from scanner.report.policy import PolicyOutcome

FORMATS: tuple[str, ...] = ("csv", "json", "html", "junit", "markdown")


def render_report(
    results: Sequence[EndpointResult],
    fmt: str,
    *,
    generated: str | None = None,
    fail_on: str | None = "high",
    policy: PolicyOutcome | None = None,
    scans: Sequence[ScanInfo] = (),
    diff: ScanDiff | None = None,
) -> str:
    """``fail_on`` and ``policy`` decide JUnit failures; the other formats show everything. ``scans``: the scans
    the results come from (id, start, targets, options), stated by the formats meant for people."""
    when = generated or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if fmt == "csv":
        return render_csv(results)
    if fmt == "json":
        return render_json(results, when, scans)
    if fmt == "html":
        return render_html(results, when, scans=scans, diff=diff)
    if fmt == "junit":
        return render_junit(results, when, fail_on=fail_on, policy=policy)
    if fmt == "markdown":
        return render_markdown(results, when, scans)
    raise UsageError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
