"""JSON report: the schema version, the scans, the summary and every result as EndpointResult.to_dict()."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence

from scanner import __version__
from scanner.model import EndpointResult, ScanInfo
from scanner.report.summary import summarise
from scanner.results_file import SCHEMA_VERSION
from scanner.untrusted import for_json


def render_json(results: Iterable[EndpointResult], generated: str, scans: Sequence[ScanInfo] = ()) -> str:
    rows = list(results)
    summary = summarise(rows)
    document = {
        "schema_version": SCHEMA_VERSION,
        "tool": f"mailprobe {__version__}",
        "generated": generated,
        "scans": [scan.to_dict() for scan in scans],
        "summary": {**dataclasses.asdict(summary), "findings": summary.findings},
        "results": [r.to_dict() for r in rows],
    }
    return for_json(json.dumps(document, indent=2, ensure_ascii=False)) + "\n"
