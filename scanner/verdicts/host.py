"""Host-level findings: rules that need several ports of one host (endpoints grouped by address).

They are computed in one place for a scan: ``HostJudge``, which the result pipeline (scanner.pipeline) runs on every
row as it arrives, so the results file, stdout, the table, validation and the TUI all get the same findings. A file
read back (reports, diffs, policy checks, baselines) goes through ``with_host_findings``, the same rules over the
whole file: files written before the pipeline, and scans resumed across runs, get them too (rows that already carry
them are left as they are).

A host rule takes the results of one host and yields ``(endpoint, finding)`` pairs for the endpoints the finding
concerns; it only ever concerns an open endpoint, and it reads the other rows of the host (open, error, and the
state of its implicit-TLS ports). To add one, write the function beside the verdicts it belongs to and append it to
``HOST_RULES``.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence

from scanner.model import Endpoint, EndpointResult, Finding
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
    return [with_findings(result, extra.get(result.key, ())) for result in results]


def with_findings(result: EndpointResult, host: Sequence[Finding]) -> EndpointResult:
    """``result`` with the host findings ``host`` added, those it already has (by id) left out."""
    have = {f.id for f in result.findings}
    added = tuple(f for f in host if f.id not in have)
    return dataclasses.replace(result, findings=result.findings + added) if added else result


HostFindings = dict[tuple[str, int], tuple[Finding, ...]]
Changes = dict[tuple[str, int], tuple[tuple[Finding, ...], tuple[Finding, ...]]]  # key -> (before, after)


class HostJudge:
    """Host findings while results arrive. ``add`` records a row and judges its host again; it returns the host
    findings of every endpoint of that host whose host findings changed, before and after (the new row's included
    when it has any).

    Memory stays flat on large ranges: a host's rows are judged only once one of them is open, rows of open and
    failed endpoints are kept without their transcripts, other ports only as (port, protocol, state) and only on
    their implicit-TLS ports (the only silent ones a rule reads)."""

    def __init__(self, rules: Sequence[HostRule] = HOST_RULES) -> None:
        self.rules = rules
        self._rows: dict[str, dict[int, EndpointResult]] = {}  # address -> port -> open/error row, no transcript
        # address -> (port, protocol, state) of its implicit-TLS ports that did not answer: a dead /16 has 131,072,
        # so the entries are shared (one tuple per port and state) and each address holds a tuple of them
        self._silent: dict[str, tuple[tuple[int, str, str], ...]] = {}
        self._entries: dict[tuple[int, str, str], tuple[int, str, str]] = {}
        self._given: HostFindings = {}  # the host findings each endpoint has now

    def add(self, result: EndpointResult) -> Changes:
        address, port = result.address, result.port
        kept = self._rows.get(address)
        if result.state in ("open", "error"):
            if kept is None:
                kept = self._rows[address] = {}
            kept[port] = dataclasses.replace(result, transcript=())
            self._forget_silent(address, port)
        else:  # the way most rows of a large range go: a few dictionary steps, nothing judged
            if kept is not None:
                kept.pop(port, None)
            if result.transport == "implicit":
                entry: tuple[int, str, str] = (port, result.protocol, result.state)
                entry = self._entries.setdefault(entry, entry)
                before = self._silent.get(address, ())
                self._silent[address] = (*(e for e in before if e[0] != port), entry) if before else (entry,)
            if not kept:
                return _NOTHING
        if not any(r.state == "open" for r in kept.values()):
            return self._changed(address, {})
        rows = [*kept.values()]
        rows += [
            EndpointResult.without_conversation(
                Endpoint(address, address, port, protocol, "implicit"),  # type: ignore[arg-type]
                state,  # type: ignore[arg-type]
            )
            for port, protocol, state in self._silent.get(address, ())
        ]
        return self._changed(address, host_findings(rows, self.rules))

    def row(self, key: tuple[str, int]) -> EndpointResult | None:
        """The row kept of an open or failed endpoint as it was added (without its transcript)."""
        return self._rows.get(key[0], {}).get(key[1])

    def _changed(self, address: str, found: dict[tuple[str, int], list[Finding]]) -> Changes:
        changed: Changes = {}
        for port in self._rows.get(address, {}):
            key = (address, port)
            now = tuple(found.get(key, ()))
            before = self._given.get(key, ())
            if now != before:
                changed[key] = (before, now)
                if now:
                    self._given[key] = now
                else:
                    self._given.pop(key, None)
        return changed

    def _forget_silent(self, address: str, port: int) -> None:
        silent = self._silent.get(address)
        if silent and any(entry[0] == port for entry in silent):  # a re-probe: the port's earlier row goes
            self._silent[address] = tuple(entry for entry in silent if entry[0] != port)


_NOTHING: Changes = {}  # returned, never changed
