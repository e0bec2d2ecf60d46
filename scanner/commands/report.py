"""`mailprobe report results.jsonl --format csv|json|html|junit|markdown -o FILE`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from scanner.errors import UsageError
from scanner.model import SEVERITIES
from scanner.report.diff import diff_results
from scanner.report.formats import FORMATS, render_report
from scanner.report.load import load_results
from scanner.report.policy import evaluate_policy, load_policy
from scanner.report.validate import Validation, evaluate_after_scan
from scanner.settings import DEFAULT_FAIL_ON, checked, severity_or_none


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="write a report (CSV, JSON, HTML, JUnit XML, Markdown) from scan results",
        description="Turn scan results (JSONL) into a report file.",
    )
    parser.add_argument("results", help="scan results (JSONL)")
    parser.add_argument("--format", choices=FORMATS, required=True)
    parser.add_argument("-o", "--output", metavar="FILE", default="-", help="file to write (default: stdout)")
    parser.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        default=DEFAULT_FAIL_ON,
        help=f"lowest severity that fails (exit 1, and a failed JUnit test case) ({', '.join(SEVERITIES)} or none; "
        f"default {DEFAULT_FAIL_ON})",
    )
    parser.add_argument(
        "--policy", metavar="FILE", help="policy of what must hold: exit 1 (and failed JUnit cases) when it fails"
    )
    parser.add_argument(
        "--baseline",
        metavar="FILE",
        help="earlier results: the HTML report shows what changed, and a regression exits 1",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the report, then judge the results as the scan would (exit 0, 1 or 3; verdict lines on stderr)."""
    fail_on = checked(severity_or_none, args.fail_on, "--fail-on")
    policy = load_policy(args.policy) if args.policy else None
    loaded = load_results(args.results)
    baseline = load_results(args.baseline) if args.baseline else None
    for note in (loaded.note, baseline.note if baseline else None):
        if note:
            print(f"mailprobe: {note}", file=sys.stderr)
    results = loaded.results
    outcome = evaluate_policy(policy, results) if policy else None
    diff = diff_results(baseline.results, results) if baseline else None
    text = render_report(results, args.format, fail_on=fail_on, policy=outcome, scans=loaded.scans, diff=diff)
    if args.output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc}") from None
    validation = Validation(baseline.results if baseline else None, args.baseline, policy, fail_on, False)
    return evaluate_after_scan(results, validation, stream=sys.stderr)
