"""Host-level findings: rules that need several ports of one host (endpoints grouped by address).

Streamed JSON Lines hold each endpoint's own findings as soon as it is done; host-level findings are added wherever a
whole scan is in hand (the table, the JSON array, reports, diffs, policy checks), all through ``with_host_findings``.

A host rule takes the results of one host and yields ``(endpoint, finding)`` pairs for the endpoints the finding
concerns. To add one, write the function beside the verdicts it belongs to and append it to ``HOST_RULES``.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence

from scanner.model import EndpointResult, Finding
from scanner.verdicts.certificate_host import differing_certificates, implicit_tls_missing
from scanner.verdicts.submission_host import submission_465_missing, submission_certificate_mismatch

HostRule = Callable[[Sequence[EndpointResult]], Iterator[tuple[EndpointResult, Finding]]]

HOST_RULES: tuple[HostRule, ...] = (
    differing_certificates,
    implicit_tls_missing,
    submission_certificate_mismatch,
    submission_465_missing,
)


def host_findings(
    results: Iterable[EndpointResult], rules: Sequence[HostRule] = HOST_RULES
) -> dict[tuple[str, int], list[Finding]]:
    """Every host rule over every host in ``results``, keyed by the endpoint (address, port) each finding belongs to."""
    by_host: dict[str, list[EndpointResult]] = defaultdict(list)
    for result in results:
        by_host[result.address].append(result)
    out: dict[tuple[str, int], list[Finding]] = defaultdict(list)
    for rows in by_host.values():
        for rule in rules:
            for endpoint, finding in rule(rows):
                out[endpoint.key].append(finding)
    return dict(out)


def with_host_findings(results: Iterable[EndpointResult]) -> list[EndpointResult]:
    """The same results, in the same order, each with the host-level findings that concern it added once (so calling
    it again on its own output changes nothing)."""
    results = list(results)
    extra = host_findings(results)
    out: list[EndpointResult] = []
    for result in results:
        have = {f.id for f in result.findings}
        added = tuple(f for f in extra.get(result.key, ()) if f.id not in have)
        out.append(dataclasses.replace(result, findings=result.findings + added) if added else result)
    return out
