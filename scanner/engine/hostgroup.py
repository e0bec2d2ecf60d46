"""Findings that need several ports of one host (certificate differs across ports, no implicit TLS).

Streamed JSON Lines hold each endpoint's own findings as soon as it is done; these host-level findings are added
wherever a whole scan is in hand: the table, the JSON array, reports and diffs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from scanner.model import EndpointResult
from scanner.verdicts.certificates import cross_port_findings


def with_cross_port_findings(results: Iterable[EndpointResult]) -> list[EndpointResult]:
    """The same results, in the same order, each with the host-level findings that concern it added once."""
    results = list(results)
    extra = cross_port_findings(results)
    out: list[EndpointResult] = []
    for result in results:
        have = {f.id for f in result.findings}
        added = tuple(f for f in extra.get(result.key, ()) if f.id not in have)
        out.append(dataclasses.replace(result, findings=result.findings + added) if added else result)
    return out
