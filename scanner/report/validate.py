"""The scan's validation step: baseline diff, policy, --fail-on and --fail-on-regression, and the exit code.

Exit codes (docs/validation.md has the table for every command): 0 all holds; 1 the policy failed, something got
worse than the baseline, or (without --fail-on-regression) a finding is at or above --fail-on; 2 usage error
(UsageError, raised here); 3 nothing reachable, so nothing could be validated.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from scanner.model import SEVERITY_RANK, EndpointResult
from scanner.report.diff import diff_results, render_diff_table
from scanner.report.load import load_results
from scanner.report.policy import Policy, evaluate_policy, load_policy
from scanner.text import plural
from scanner.untrusted import for_terminal

if TYPE_CHECKING:
    from scanner.settings import ScanSettings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_SCAN = 3


@dataclass(frozen=True)
class Validation:
    baseline: list[EndpointResult] | None
    baseline_path: str | None
    policy: Policy | None
    fail_on: str | None
    fail_on_regression: bool
    baseline_note: str | None = None  # the baseline file holds several scans: say which state is compared

    @property
    def judges_every_endpoint(self) -> bool:
        """A baseline diff or a policy needs every endpoint asked for (vanished, closed), not only open ones."""
        return self.baseline is not None or self.policy is not None


def prepare_validation(settings: ScanSettings) -> Validation:
    """Read and check the baseline and policy; call before scanning so a bad file fails at once (UsageError)."""
    policy = settings.policy
    if isinstance(policy, str):
        policy = load_policy(policy)
    loaded = load_results(settings.baseline) if settings.baseline else None
    return Validation(
        loaded.results if loaded else None,
        settings.baseline,
        policy,
        settings.fail_on,
        settings.fail_on_regression,
        baseline_note=loaded.note if loaded else None,
    )


def evaluate_after_scan(
    results: Sequence[EndpointResult],
    v: Validation,
    stream: TextIO | None = None,
    today: dt.date | None = None,
) -> int:
    """Print the baseline diff, the policy outcome and threshold failures; return the exit code.
    Output goes to ``stream`` (default stdout). ``results`` carry their host findings already (a scan's rows come
    through scanner.pipeline, a file's through scanner.report.load), as the baseline's do."""
    out = stream or sys.stdout
    regressions: list[str] = []
    if v.baseline is not None:
        diff = diff_results(v.baseline, results)
        out.write(f"Against baseline {v.baseline_path}:\n")
        if v.baseline_note:
            out.write(f"({v.baseline_note})\n")
        out.write(render_diff_table(diff, v.fail_on))
        regressions = diff.regressions(v.fail_on)
    policy_failed = False
    if v.policy is not None:
        outcome = evaluate_policy(v.policy, results, today)
        out.write(outcome.render())
        policy_failed = not outcome.holds
        if v.baseline is not None:
            before = {x.key for x in evaluate_policy(v.policy, v.baseline, today).violations}
            new_violations = [f"policy {x.describe()}" for x in outcome.violations if x.key not in before]
            # Listed like the diff's regressions, so the FAILED count below names every one it counts.
            out.writelines(f"REGRESSION {for_terminal(line)}\n" for line in new_violations)
            regressions += new_violations
    at_or_above: list[str] = []
    if v.fail_on is not None and not v.fail_on_regression:
        floor = SEVERITY_RANK[v.fail_on]
        worst_first = sorted(
            ((r, f) for r in results for f in r.findings if SEVERITY_RANK[f.severity] >= floor),
            key=lambda pair: -SEVERITY_RANK[pair[1].severity],
        )
        at_or_above = [f"{r.host}:{r.port} [{f.severity}] {f.id}: {f.title}" for r, f in worst_first]
        if at_or_above:
            out.write(f"{plural(len(at_or_above), 'finding')} at or above {v.fail_on}:\n")
            out.writelines(f"  {for_terminal(line)}\n" for line in at_or_above)  # titles quote servers
    if not any(r.state == "open" for r in results):
        out.write("Nothing reachable: no endpoint answered, so nothing could be validated.\n")
        return EXIT_NO_SCAN
    if v.baseline is not None:
        if regressions:
            out.write(f"FAILED: {plural(len(regressions), 'regression')} against the baseline.\n")
        else:
            out.write("No regressions against the baseline.\n")
    if policy_failed or regressions or at_or_above:
        return EXIT_FAILED
    return EXIT_OK
