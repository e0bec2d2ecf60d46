"""`mailprobe diff before.jsonl after.jsonl`: what changed per endpoint between two scans."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from scanner.model import SEVERITIES
from scanner.report.diff import diff_results, render_diff_json, render_diff_table
from scanner.report.load import load_results
from scanner.report.validate import EXIT_FAILED, EXIT_OK
from scanner.settings import DEFAULT_FAIL_ON, checked, severity_or_none


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "diff",
        help="compare two scans: findings fixed and new, verdict and certificate changes",
        description="Compare two scans (JSONL results) endpoint by endpoint.",
    )
    parser.add_argument("before", help="earlier results (JSONL)")
    parser.add_argument("after", help="later results (JSONL)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        default=DEFAULT_FAIL_ON,
        help=f"lowest severity of a new finding that counts as a regression ({', '.join(SEVERITIES)} or none; "
        f"default {DEFAULT_FAIL_ON}); worse verdicts, STARTTLS and TLS versions always count",
    )
    parser.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="accepted for compatibility: diff always exits 1 on a regression",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    threshold = checked(severity_or_none, args.fail_on, "--fail-on")
    before, after = load_results(args.before), load_results(args.after)
    for note in (before.note, after.note):
        if note:
            print(f"mailprobe: {note}", file=sys.stderr)
    diff = diff_results(before.results, after.results)
    render = render_diff_json if args.format == "json" else render_diff_table
    sys.stdout.write(render(diff, threshold))
    return EXIT_FAILED if diff.regressions(threshold) else EXIT_OK
