"""`mailprobe demo` is registered and lists the eight demo servers, all on loopback."""

from __future__ import annotations

import ipaddress

from scanner.cli import main
from scanner.demo import DEMO_SERVERS


def test_demo_list(capsys) -> None:
    assert main(["demo", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(DEMO_SERVERS) == 8
    for line, spec in zip(lines, DEMO_SERVERS, strict=True):
        assert line.split()[:2] == [spec.address, spec.name]
        assert ipaddress.ip_address(spec.address).is_loopback
