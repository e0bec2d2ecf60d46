"""The results file as its current state: several scans in one file read as the latest result per endpoint, the
file says it holds several scans, -o refuses to mix scans silently, and the documented schemas match the code."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import jsonschema
import pytest

from scanner import model
from scanner.errors import UsageError
from scanner.results_file import SCHEMA_VERSION, JsonlWriter, new_scan, read_result_file, scan_line
from tests.report.report_samples import AUTH_ADVERTISED, PLAINTEXT_ACCEPTED, site

ROOT = Path(__file__).resolve().parents[2]
OPEN = (PLAINTEXT_ACCEPTED, AUTH_ADVERTISED)
DOCS = ROOT / "docs"


def write_scan(path: Path, results: list[model.EndpointResult], targets: tuple[str, ...] = ("mail.test",)) -> str:
    with JsonlWriter(path, new_scan(targets, {"ports": "110,143,993,995"})) as writer:
        for result in results:
            writer.write(result)
    return str(path)


def mailprobe(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scanner", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_two_scans_in_one_file_report_like_the_second_alone(tmp_path: Path) -> None:
    both = tmp_path / "both.jsonl"
    write_scan(both, site("accepted", OPEN))  # before the fix
    write_scan(both, site("refused"))  # after it, appended
    alone = write_scan(tmp_path / "second.jsonl", site("refused"))
    file = read_result_file(both)
    assert len(file.scans) == 2 and file.lines == 8 and len(file.results) == 4 and file.superseded == 4
    assert [r.plaintext_login.verdict for r in file.results] == [r.plaintext_login.verdict for r in site("refused")]
    for fmt in ("junit", "markdown", "csv"):
        from_both = mailprobe("report", str(both), "--format", fmt)
        from_alone = mailprobe("report", alone, "--format", fmt)
        assert from_both.returncode == from_alone.returncode == 0, from_both.stderr
        if fmt == "csv":  # the other formats name their scans, which differ
            assert from_both.stdout == from_alone.stdout
        assert "holds 2 scans" in from_both.stderr and "latest result of each of its 4 endpoints" in from_both.stderr
    junit = mailprobe("report", str(both), "--format", "junit").stdout
    assert 'tests="4"' in junit and 'failures="0"' in junit
    data = json.loads(mailprobe("report", str(both), "--format", "json").stdout)
    assert data["schema_version"] == SCHEMA_VERSION and len(data["scans"]) == 2
    assert data["summary"]["endpoints"] == 4 and data["summary"]["verdicts"] == {"refused": 2, "not_applicable": 2}
    diff = mailprobe("diff", alone, str(both))
    assert diff.returncode == 0 and "0 regressions" in diff.stdout  # the file's current state is the second scan


def test_a_file_without_scan_lines_still_reads(tmp_path: Path) -> None:
    old = tmp_path / "v1.jsonl"
    old.write_text("".join(r.to_json() + "\n" for r in site()), encoding="utf-8")
    file = read_result_file(old)
    assert file.scans == () and len(file.results) == 4 and file.note() is None


def test_a_newer_schema_is_refused_with_one_line(tmp_path: Path) -> None:
    newer = tmp_path / "newer.jsonl"
    line = json.loads(scan_line(new_scan(["x"], {})))
    newer.write_text(json.dumps({**line, "schema_version": SCHEMA_VERSION + 1}) + "\n", encoding="utf-8")
    with pytest.raises(UsageError, match="newer than this mailprobe reads"):
        read_result_file(newer)


def test_output_file_of_another_scan_is_refused_without_append(tmp_path: Path) -> None:
    earlier = write_scan(tmp_path / "earlier.jsonl", site())
    before = Path(earlier).read_bytes()
    done = mailprobe("scan", "127.0.0.1", "-p", "143", "--no-tui", "-o", earlier)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "already holds results of an earlier scan; add --append" in done.stderr
    assert Path(earlier).read_bytes() == before  # untouched


def test_append_adds_a_second_scan_block(tmp_path: Path) -> None:
    earlier = write_scan(tmp_path / "earlier.jsonl", site())
    # 127.0.0.1 port 1: nothing listens, so the scan is quick and writes one closed row under a new scan line
    done = mailprobe(
        "scan",
        "127.0.0.1",
        "-p",
        "imap:1",
        "--no-tui",
        "--no-ptr",
        "--no-legacy-tls",
        "--timeout",
        "2",
        "-o",
        earlier,
        "--append",
    )
    assert done.returncode == 3, done.stderr  # nothing reachable
    file = read_result_file(earlier)
    assert len(file.scans) == 2 and file.scans[1].targets == ("127.0.0.1",) and file.scans[1].options["ports"]
    assert ("127.0.0.1", 1) in {r.key for r in file.results} and len(file.results) == 5


# -- the documented schemas are the code's ------------------------------------------------------------------------


def _objects(schema: Any) -> list[set[str]]:
    """The property names of every object the schema describes."""
    found: list[set[str]] = []
    if isinstance(schema, dict):
        if "properties" in schema:
            found.append(set(schema["properties"]))
        for value in schema.values():
            found += _objects(value)
    elif isinstance(schema, list):
        for value in schema:
            found += _objects(value)
    return found


def test_result_schema_names_every_field_of_the_result_model() -> None:
    schema = json.loads((DOCS / "result.schema.json").read_text(encoding="utf-8"))
    described = _objects(schema)
    for kind in (
        model.EndpointResult,
        model.Capabilities,
        model.PlaintextLogin,
        model.TlsInfo,
        model.TlsConfiguration,
        model.VulnerabilityCheck,
        model.VersionSuites,
        model.MozillaCompliance,
        model.ProfileCompliance,
        model.Deviation,
        model.CertificateInfo,
        model.NameCheck,
        model.TranscriptLine,
        model.Finding,
        model.NtlmInfo,
    ):
        fields = {f.name for f in dataclasses.fields(kind)}
        assert fields in described, f"docs/result.schema.json is out of step with {kind.__name__}: {sorted(fields)}"
    for result in site("accepted", OPEN):
        jsonschema.validate(result.to_dict(), schema)
    enums = {name: schema["properties"][name]["enum"] for name in ("protocol", "transport", "state", "starttls")}
    assert enums == {
        "protocol": list(get_args(model.Protocol)),
        "transport": list(get_args(model.Transport)),
        "state": list(get_args(model.State)),
        "starttls": list(get_args(model.StartTls)),
    }
    verdicts = schema["properties"]["plaintext_login"]["properties"]["verdict"]["enum"]
    assert verdicts == list(get_args(model.Verdict))


def test_scan_schema_matches_the_scan_line() -> None:
    schema = json.loads((DOCS / "scan.schema.json").read_text(encoding="utf-8"))
    line = json.loads(scan_line(new_scan(["mail.example.com"], {"ports": "143"})))
    jsonschema.validate(line, schema)
    assert set(schema["properties"]) == set(line) == set(schema["required"])
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION


def test_report_of_a_file_where_nothing_answered_exits_3(tmp_path: Path) -> None:
    from tests.report.report_samples import endpoint

    silent = write_scan(tmp_path / "silent.jsonl", [endpoint(143, state="closed"), endpoint(993, state="filtered")])
    done = mailprobe("report", silent, "--format", "csv")
    assert done.returncode == 3, done.stderr  # the documented "nothing reachable" code, as for scan
    assert "Nothing reachable" in done.stderr
