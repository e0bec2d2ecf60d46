"""The scan's validation step: baseline diff, policy, --fail-on and --fail-on-regression, and the exit code.

Exit codes: 0 all holds, 1 policy failed or findings at/above the threshold (with --fail-on-regression: only
what got worse), 2 usage error (UsageError, raised here), 3 the scan could not run (nothing reachable).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from scanner.errors import UsageError
from scanner.model import SEVERITY_RANK, EndpointResult
from scanner.report.diff import diff_results, render_diff_table
from scanner.report.load import read_results
from scanner.report.policy import Policy, check_severity, evaluate_policy, load_policy
from scanner.untrusted import for_terminal

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_SCAN = 3


def add_validation_arguments(parser: argparse.ArgumentParser) -> None:
    """--baseline, --fail-on-regression, --policy, -c/--config on the scan parser (--fail-on is the scan's own)."""
    group = parser.add_argument_group("validation")
    group.add_argument("-c", "--config", metavar="FILE", help="TOML scan configuration (command line options win)")
    group.add_argument("--baseline", metavar="FILE", help="earlier results (JSONL): show what changed since")
    group.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="with --baseline: exit 1 only for what got worse (new findings, worse verdicts, new policy failures)",
    )
    group.add_argument("--policy", metavar="FILE", help="TOML policy of what must hold; exit 1 when it fails")
    parser.set_defaults(validation_parser=parser)


@dataclass(frozen=True)
class Validation:
    baseline: list[EndpointResult] | None
    baseline_path: str | None
    policy: Policy | None
    fail_on: str | None
    fail_on_regression: bool


def prepare_validation(args: argparse.Namespace) -> Validation:
    """Read and check the baseline and policy; call before scanning so a bad file fails at once (UsageError).
    Cached on ``args``; evaluate_after_scan calls it when the scan did not."""
    cached = getattr(args, "validation", None)
    if isinstance(cached, Validation):
        return cached
    fail_on = getattr(args, "fail_on", None)
    if fail_on == "none":  # the scan's way to say: no severity threshold
        fail_on = None
    if fail_on is not None:
        fail_on = check_severity(fail_on, where="--fail-on")
    baseline_path = getattr(args, "baseline", None)
    regression = bool(getattr(args, "fail_on_regression", False))
    if regression and not baseline_path:
        raise UsageError("--fail-on-regression needs --baseline FILE")
    policy_arg = getattr(args, "policy", None)
    policy = policy_arg if isinstance(policy_arg, Policy) else (load_policy(policy_arg) if policy_arg else None)
    baseline = read_results(baseline_path) if baseline_path else None
    validation = Validation(baseline, baseline_path, policy, fail_on, regression)
    args.validation = validation
    return validation


def evaluate_after_scan(
    results: Sequence[EndpointResult],
    args: argparse.Namespace,
    stream: TextIO | None = None,
    today: dt.date | None = None,
) -> int:
    """Print the baseline diff, the policy outcome and threshold failures; return the exit code.
    Output goes to ``stream``, by default stdout, or stderr when the scan writes JSON/JSONL to stdout."""
    v = prepare_validation(args)
    from scanner.verdicts.host import with_host_findings  # certificate analysis: imported when needed

    results = with_host_findings(results)  # idempotent: the baseline file gets them in read_results too
    out = stream or _default_stream(args)
    threshold = v.fail_on or "low"
    regressions: list[str] = []
    if v.baseline is not None:
        diff = diff_results(v.baseline, results)
        out.write(f"Against baseline {v.baseline_path}:\n")
        out.write(render_diff_table(diff, threshold))
        regressions = diff.regressions(threshold)
    policy_failed = False
    if v.policy is not None:
        outcome = evaluate_policy(v.policy, results, today)
        out.write(outcome.render())
        policy_failed = not outcome.holds
        if v.baseline is not None:
            before = {x.key for x in evaluate_policy(v.policy, v.baseline, today).violations}
            regressions += [f"policy {x.describe()}" for x in outcome.violations if x.key not in before]
    at_or_above: list[str] = []
    if v.fail_on is not None:
        floor = SEVERITY_RANK[v.fail_on]
        at_or_above = [
            f"{r.host}:{r.port} [{f.severity}] {f.id}: {f.title}"
            for r in results
            for f in r.findings
            if SEVERITY_RANK[f.severity] >= floor
        ]
        if at_or_above and not v.fail_on_regression:
            out.write(f"{len(at_or_above)} findings at or above {v.fail_on}:\n")
            out.writelines(f"  {for_terminal(line)}\n" for line in at_or_above)  # titles quote servers
    if not any(r.state == "open" for r in results):
        out.write("Nothing reachable: no endpoint answered, so nothing could be validated.\n")
        return EXIT_NO_SCAN
    if v.fail_on_regression:
        if regressions:
            out.write(f"FAILED: {len(regressions)} regressions against the baseline.\n")
            return EXIT_FAILED
        out.write("No regressions against the baseline.\n")
        return EXIT_OK
    if policy_failed or at_or_above:
        return EXIT_FAILED
    return EXIT_OK


def _default_stream(args: argparse.Namespace) -> TextIO:
    # --format json/jsonl owns stdout (-o only adds a JSON Lines file): the human text goes to stderr.
    return sys.stderr if getattr(args, "format", "table") in ("json", "jsonl") else sys.stdout
