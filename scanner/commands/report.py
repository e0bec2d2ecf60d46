"""`mailprobe report results.jsonl --format csv|json|html|junit|markdown -o FILE`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from scanner.errors import UsageError
from scanner.model import SEVERITIES
from scanner.report.formats import FORMATS, render_report
from scanner.report.load import read_results
from scanner.report.policy import check_severity, evaluate_policy, load_policy


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
        default="low",
        help=f"JUnit: lowest severity that fails a test case ({', '.join(SEVERITIES)}; default low)",
    )
    parser.add_argument("--policy", metavar="FILE", help="JUnit: policy violations fail test cases too")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    fail_on = check_severity(args.fail_on, where="--fail-on")
    policy = load_policy(args.policy) if args.policy else None
    results = read_results(args.results)
    outcome = evaluate_policy(policy, results) if policy else None
    text = render_report(results, args.format, fail_on=fail_on, policy=outcome)
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {args.output}: {exc}") from None
    return 0
