"""`mailprobe scan ... --ray ADDRESS`: the scan run by a Ray cluster's nodes, merged here into one scan (the results
file, the table or the TUI, validation and the exit code are this process's, as in a scan on one machine)."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

from scanner.errors import UsageError
from scanner.model import ScanInfo
from scanner.settings import ScanSettings
from scanner.targets.planning import TargetPlan

if TYPE_CHECKING:
    from scanner.report.validate import Validation


def scan_on_ray(
    settings: ScanSettings, plan: TargetPlan, validation: Validation | None, info: ScanInfo, use_tui: bool
) -> int:
    from scanner.commands.scan import judged, plain_scan, probe_options
    from scanner.scan import ray_scan

    assert settings.ray is not None
    vantages = [ray_scan.parse_vantage(selector, targets) for selector, targets in settings.vantages]
    if settings.discover in ("zmap", "masscan"):
        raise UsageError(
            f"--discover {settings.discover} with --ray: the SYN scan would run from this machine, not "
            "from the nodes (leave --discover out)"
        )
    if settings.workers not in (None, 1):
        raise UsageError("--workers with --ray: each node scans in one process (add nodes instead)")
    nodes = ray_scan.connect(settings.ray)
    journal = None
    if settings.output:
        from scanner.results_file import TalkJournal

        journal = TalkJournal(settings.output)
    scan = ray_scan.RayScan(
        nodes,
        plan.endpoints,
        probe_options(settings),
        vantages=vantages,
        journal=journal,
        concurrency=settings.concurrency,
        per_host=settings.per_host,
        rate=settings.rate,
        total=plan.current_total,
    )
    where = f"Ray cluster of {len(nodes)} nodes"
    if use_tui:
        from scanner.tui import run_scan_tui

        code = run_scan_tui(
            scan,  # type: ignore[arg-type]  # Scan's interface
            title="mailprobe scan",
            targets=" ".join(settings.targets) or "(from files)",
            options_summary=f"{settings.summary()}, {where}",
            output_path=settings.output,
            scan_info=info,
            exit_code=lambda results: judged(results, validation, settings, stream=sys.stderr),
        )
    else:
        print(f"mailprobe: scanning on a {where}: {', '.join(n.name for n in nodes)}", file=sys.stderr)
        code = asyncio.run(plain_scan(scan, settings, validation, info))  # type: ignore[arg-type]
    for line in scan.lost:
        print(f"mailprobe: {line}", file=sys.stderr)
    counts = ", ".join(
        f"{name} {count:,}" + (f" (CPU {scan.cpu_by_node[name]:.1f} s)" if name in scan.cpu_by_node else "")
        for name, count in sorted(scan.rows_by_node.items())
    )
    print(f"mailprobe: rows per Ray node: {counts or 'none'}", file=sys.stderr)
    return code
