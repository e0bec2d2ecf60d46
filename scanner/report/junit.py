"""JUnit XML: one test suite per host, one test case per endpoint, so CI systems show failures natively.

A case fails when the endpoint has findings at or above ``fail_on`` (or policy violations, when a policy outcome
is given); an endpoint the scan could not judge (state error) is an error; closed and filtered ports are skipped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable

from scanner.model import SEVERITY_RANK, EndpointResult
from scanner.report.policy import PolicyOutcome
from scanner.report.summary import by_host, sorted_findings
from scanner.untrusted import for_xml


def render_junit(
    results: Iterable[EndpointResult],
    generated: str,
    fail_on: str | None = "high",
    policy: PolicyOutcome | None = None,
) -> str:
    floor = SEVERITY_RANK[fail_on] if fail_on else len(SEVERITY_RANK)  # none: findings alone never fail
    violations: dict[tuple[str, int], list[str]] = {}
    for violation in policy.violations if policy else ():
        violations.setdefault((violation.address, violation.port), []).append(f"[{violation.rule}] {violation.detail}")
    root = ET.Element("testsuites", name="mailprobe")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for host, endpoints in by_host(results).items():
        suite = ET.SubElement(root, "testsuite", name=host, timestamp=generated)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        seconds = 0.0
        for r in endpoints:
            counts["tests"] += 1
            seconds += r.duration_ms / 1000
            case = ET.SubElement(
                suite,
                "testcase",
                name=f"{r.protocol}/{r.transport} {r.address}:{r.port}",
                classname=f"mailprobe.{host}",
                time=f"{r.duration_ms / 1000:.3f}",
            )
            failing = [f for f in sorted_findings(r) if SEVERITY_RANK[f.severity] >= floor]
            broken = violations.get(r.key, [])
            if r.state == "error":
                counts["errors"] += 1
                ET.SubElement(case, "error", message=r.error or "probe failed", type="probe-error").text = r.error
            elif r.state != "open":
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=f"port {r.state}")
            elif failing or broken:
                counts["failures"] += 1
                parts = [f"{f.id} ({f.severity})" for f in failing] + broken
                body = [f"[{f.severity}] {f.id}: {f.title}\n  {f.detail}\n  Fix: {f.remediation}" for f in failing]
                body += [f"policy {line}" for line in broken]
                failure = ET.SubElement(case, "failure", message="; ".join(parts), type=failing[0].severity
                                        if failing else "policy")  # fmt: skip
                failure.text = "\n".join(body)
            out = [f"plaintext login: {r.plaintext_login.verdict}", f"STARTTLS: {r.starttls}"]
            out += [f"[{f.severity}] {f.id}: {f.title}" for f in sorted_findings(r) if f not in failing]
            ET.SubElement(case, "system-out").text = "\n".join(out)
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
        suite.set("time", f"{seconds:.3f}")
    for k, v in totals.items():
        root.set(k, str(v))
    _only_xml_legal(root)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _only_xml_legal(root: ET.Element) -> None:
    """Server text may hold characters XML 1.0 cannot carry: escape them visibly in every attribute and text."""
    for element in root.iter():
        if element.text:
            element.text = for_xml(element.text, multiline=True)
        for name, value in element.attrib.items():
            element.set(name, for_xml(value))
