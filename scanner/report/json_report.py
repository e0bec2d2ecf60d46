"""JSON report: the summary plus every result as EndpointResult.to_dict()."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable

from scanner import __version__
from scanner.model import EndpointResult
from scanner.report.summary import summarise


def render_json(results: Iterable[EndpointResult], generated: str) -> str:
    rows = list(results)
    summary = summarise(rows)
    document = {
        "tool": f"mailprobe {__version__}",
        "generated": generated,
        "summary": {**dataclasses.asdict(summary), "findings": summary.findings},
        "results": [r.to_dict() for r in rows],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
