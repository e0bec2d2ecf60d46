"""`mailprobe demo` is registered and lists the nine demo servers, all on loopback."""

from __future__ import annotations

import ipaddress
import json

from scanner.cli import main
from scanner.demo import DEMO_SERVERS
from scanner.model import EndpointResult
from tests.tui.test_tui_demo_e2e import EXPECTED_VERDICT


def test_demo_list(capsys) -> None:
    assert main(["demo", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(DEMO_SERVERS) == 9
    for line, spec in zip(lines, DEMO_SERVERS, strict=True):
        assert line.split()[:2] == [spec.address, spec.name]
        assert ipaddress.ip_address(spec.address).is_loopback


def test_demo_plain_output_has_every_server_with_its_verdict(capsys) -> None:
    assert main(["demo", "--fast", "--no-tui", "--format", "json"]) == 0
    rows = [EndpointResult.from_dict(item) for item in json.loads(capsys.readouterr().out)["results"]]
    verdicts = {r.name.split(".")[0]: r.plaintext_login.verdict for r in rows}
    assert verdicts == EXPECTED_VERDICT
    injection = {r.name.split(".")[0]: r.starttls_injection.verdict for r in rows if r.starttls_injection}
    assert injection.pop("injection") == "vulnerable"  # the one demo server with the flaw, and only it
    assert injection.pop("notls") == "not_tested"  # no STARTTLS to inject into
    assert set(injection.values()) == {"not_vulnerable"}, injection
    flagged = [r.name for r in rows if any(f.id == "starttls-command-injection" for f in r.findings)]
    assert flagged == ["injection.demo.mailprobe.test"]
